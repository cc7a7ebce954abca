import type { Account } from '../../src/db/entities/index.ts';

/** An active account with no password yet, for unit tests over in-memory repositories. */
export const accountFixture = (overrides: Partial<Account> = {}): Account => ({
  id: 'acc-1',
  email: 'staff@hill.example',
  emailNormalised: 'staff@hill.example',
  sessionsNotBefore: null,
  name: 'Staff',
  passwordHash: null,
  status: 'active',
  passwordChangedAt: null,
  language: null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  ...overrides,
});
