import { InitialSchema1764000000000 } from './1764000000000-initial-schema.ts';
import { AuthenticatorDevices1764100000000 } from './1764100000000-authenticator-devices.ts';
import { OidcPayloadsAccountIndex1764200000000 } from './1764200000000-oidc-payloads-account-index.ts';
import { AuthThrottle1764300000000 } from './1764300000000-auth-throttle.ts';
import { GrantSchools1764400000000 } from './1764400000000-grant-schools.ts';
import { AuditEvents1764500000000 } from './1764500000000-audit-events.ts';
import { EmailNormalised1764600000000 } from './1764600000000-email-normalised.ts';
import { AuthFailureStreaks1764610000000 } from './1764610000000-auth-failure-streaks.ts';
import { SessionProofs1764700000000 } from './1764700000000-session-proofs.ts';
import { HashBearerIds1764800000000 } from './1764800000000-hash-bearer-ids.ts';
import { OutboundDeliveries1764900000000 } from './1764900000000-outbound-deliveries.ts';
import { SessionsNotBefore1765200000000 } from './1765200000000-sessions-not-before.ts';
import { AuditEmailNormalised1765210000000 } from './1765210000000-audit-email-normalised.ts';
import { AdminRoles1765300000000 } from './1765300000000-admin-roles.ts';
import { HotPathIndexes1765400000000 } from './1765400000000-hot-path-indexes.ts';
import { LanguageAndBranding1765500000000 } from './1765500000000-language-and-branding.ts';
import { BackupCodesAndPasskeys1765600000000 } from './1765600000000-backup-codes-and-passkeys.ts';

/** Listed explicitly, in order: no glob, so a stray file can never change the schema. */
export const migrations = [
  InitialSchema1764000000000,
  AuthenticatorDevices1764100000000,
  OidcPayloadsAccountIndex1764200000000,
  AuthThrottle1764300000000,
  GrantSchools1764400000000,
  AuditEvents1764500000000,
  EmailNormalised1764600000000,
  AuthFailureStreaks1764610000000,
  SessionProofs1764700000000,
  HashBearerIds1764800000000,
  OutboundDeliveries1764900000000,
  SessionsNotBefore1765200000000,
  AuditEmailNormalised1765210000000,
  AdminRoles1765300000000,
  HotPathIndexes1765400000000,
  LanguageAndBranding1765500000000,
  BackupCodesAndPasskeys1765600000000,
];
