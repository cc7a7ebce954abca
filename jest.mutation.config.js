/**
 * The unit-level test files that `npm run mutation` runs against every mutant: pure functions and
 * services over in-memory repositories, no database, browser or SMTP (the full suite takes
 * minutes per run; these take seconds). The end-to-end tests stay in `npm test`.
 */
import base from './jest.config.js';

export default {
  ...base,
  testMatch: [
    '<rootDir>/test/decisions.test.ts',
    '<rootDir>/test/throttle-policy.test.ts',
    '<rootDir>/test/totp.test.ts',
    '<rootDir>/test/password-policy.test.ts',
    '<rootDir>/test/device-cookie.test.ts',
    '<rootDir>/test/outbound-policy.test.ts',
    '<rootDir>/test/secrets.test.ts',
    '<rootDir>/test/access-rules.test.ts',
    '<rootDir>/test/authenticator-rules.test.ts',
    '<rootDir>/test/interaction-policy.test.ts',
    '<rootDir>/test/client-rules.test.ts',
    '<rootDir>/test/account-rules.test.ts',
    '<rootDir>/test/bearer-rules.test.ts',
    '<rootDir>/test/audit-rules.test.ts',
    '<rootDir>/test/admin-rules.test.ts',
    '<rootDir>/test/staff-csv.test.ts',
    '<rootDir>/test/backup-code-rules.test.ts',
    '<rootDir>/test/claims-placement.test.ts',
  ],
};
