import { EntitySchema } from 'typeorm';

export type AccessLevel = 'basic' | 'higher';
export type AccountStatus = 'active' | 'locked';

export type School = { id: string; name: string; postcode: string; createdAt: Date };

export type Account = {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string | null;
  status: AccountStatus;
  passwordChangedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

export type Membership = { accountId: string; schoolId: string; accessLevel: AccessLevel; createdAt: Date };

export type ClientSchool = { clientId: string; schoolId: string };

export type PasswordResetToken = {
  id: string;
  accountId: string;
  tokenHash: string;
  interactionUid: string | null;
  expiresAt: Date;
  usedAt: Date | null;
  createdAt: Date;
};

export type StoredSecret = { name: string; value: string; createdAt: Date };

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
    name: { type: 'text', nullable: true },
    passwordHash: { type: 'text', name: 'password_hash', nullable: true },
    status: { type: 'text' },
    passwordChangedAt: { type: 'timestamptz', name: 'password_changed_at', nullable: true },
    createdAt,
    updatedAt: { type: 'timestamptz', name: 'updated_at', updateDate: true },
  },
});

export const MembershipEntity = new EntitySchema<Membership>({
  name: 'Membership',
  tableName: 'memberships',
  columns: {
    accountId: { type: 'uuid', name: 'account_id', primary: true },
    schoolId: { type: 'uuid', name: 'school_id', primary: true },
    accessLevel: { type: 'text', name: 'access_level' },
    createdAt,
  },
});

export const ClientSchoolEntity = new EntitySchema<ClientSchool>({
  name: 'ClientSchool',
  tableName: 'client_schools',
  columns: {
    clientId: { type: 'text', name: 'client_id', primary: true },
    schoolId: { type: 'uuid', name: 'school_id', primary: true },
  },
});

export const PasswordResetTokenEntity = new EntitySchema<PasswordResetToken>({
  name: 'PasswordResetToken',
  tableName: 'password_reset_tokens',
  columns: {
    id: { type: 'uuid', primary: true },
    accountId: { type: 'uuid', name: 'account_id' },
    tokenHash: { type: 'text', name: 'token_hash' },
    interactionUid: { type: 'text', name: 'interaction_uid', nullable: true },
    expiresAt: { type: 'timestamptz', name: 'expires_at' },
    usedAt: { type: 'timestamptz', name: 'used_at', nullable: true },
    createdAt,
  },
});

export const StoredSecretEntity = new EntitySchema<StoredSecret>({
  name: 'StoredSecret',
  tableName: 'secrets',
  columns: {
    name: { type: 'text', primary: true },
    value: { type: 'text' },
    createdAt,
  },
});

export const entities = [
  SchoolEntity,
  AccountEntity,
  MembershipEntity,
  ClientSchoolEntity,
  PasswordResetTokenEntity,
  StoredSecretEntity,
];
