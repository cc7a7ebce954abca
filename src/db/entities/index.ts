import { EntitySchema } from 'typeorm';
import type { Language } from '../../i18n/languages.ts';

export type AccessLevel = 'basic' | 'higher';
export type AccountStatus = 'active' | 'locked';

export type School = { id: string; name: string; postcode: string; createdAt: Date };

export type Account = {
  id: string;
  email: string;
  /** `normaliseEmail(email)`: the value every lookup compares (see src/auth/email-address.ts). */
  emailNormalised: string;
  name: string | null;
  passwordHash: string | null;
  status: AccountStatus;
  passwordChangedAt: Date | null;
  /** Sessions and device cookies from before this time count for nothing (see domain/access.ts). */
  sessionsNotBefore: Date | null;
  /** The language of the person's mails: the one they last used on a page (NULL: English). */
  language: Language | null;
  createdAt: Date;
  updatedAt: Date;
};

const createdAt = { type: 'timestamptz', name: 'created_at', createDate: true } as const;

export const SchoolEntity = new EntitySchema<School>({
  name: 'School',
  tableName: 'schools',
  columns: {
    id: { type: 'uuid', primary: true },
    name: { type: 'text' },
    postcode: { type: 'text' },
    createdAt,
  },
});

export const AccountEntity = new EntitySchema<Account>({
  name: 'Account',
  tableName: 'accounts',
  columns: {
    id: { type: 'uuid', primary: true },
    email: { type: 'text' },
    emailNormalised: { type: 'text', name: 'email_normalised' },
    name: { type: 'text', nullable: true },
    passwordHash: { type: 'text', name: 'password_hash', nullable: true },
    status: { type: 'text' },
    passwordChangedAt: { type: 'timestamptz', name: 'password_changed_at', nullable: true },
    sessionsNotBefore: { type: 'timestamptz', name: 'sessions_not_before', nullable: true },
    language: { type: 'text', nullable: true },
    createdAt,
    updatedAt: { type: 'timestamptz', name: 'updated_at', updateDate: true },
  },
});

/**
 * The tables read through TypeORM repositories. The others are reached with SQL in their
 * repositories (conditional updates, upserts and joins that an ORM would only obscure).
 */
export const entities = [SchoolEntity, AccountEntity];
