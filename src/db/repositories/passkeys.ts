import type { EntityManager } from 'typeorm';

/**
 * A WebAuthn credential of an account. `backupEligible` (the BE flag) is fixed for the life of a
 * credential; `backedUp` (BS) may change and is updated at each use.
 */
export type PasskeyRow = {
  id: string;
  accountId: string;
  credentialId: string;
  publicKey: Uint8Array;
  signCount: number;
  transports: string[];
  backupEligible: boolean;
  backedUp: boolean;
  aaguid: string | null;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
};

type Row = {
  id: string;
  account_id: string;
  credential_id: string;
  public_key: Buffer;
  sign_count: string;
  transports: string[];
  backup_eligible: boolean;
  backed_up: boolean;
  aaguid: string | null;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
};

const COLUMNS = `id, account_id, credential_id, public_key, sign_count, transports, backup_eligible, backed_up, aaguid, name, created_at, last_used_at`;

const toPasskey = (row: Row): PasskeyRow => ({
  id: row.id,
  accountId: row.account_id,
  credentialId: row.credential_id,
  publicKey: new Uint8Array(row.public_key),
  signCount: Number(row.sign_count),
  transports: row.transports,
  backupEligible: row.backup_eligible,
  backedUp: row.backed_up,
  aaguid: row.aaguid,
  name: row.name,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

export class PasskeysRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async listForAccount(accountId: string): Promise<PasskeyRow[]> {
    const rows: Row[] = await this.db.query(`SELECT ${COLUMNS} FROM passkeys WHERE account_id = $1 ORDER BY created_at, id`, [accountId]);
    return rows.map(toPasskey);
  }

  async findByCredentialId(credentialId: string): Promise<PasskeyRow | null> {
    const rows: Row[] = await this.db.query(`SELECT ${COLUMNS} FROM passkeys WHERE credential_id = $1`, [credentialId]);
    return rows[0] ? toPasskey(rows[0]) : null;
  }

  async countForAccount(accountId: string): Promise<number> {
    const rows: Array<{ count: string }> = await this.db.query(`SELECT count(*) AS count FROM passkeys WHERE account_id = $1`, [accountId]);
    return Number(rows[0]?.count ?? 0);
  }

  /** False when the credential is already registered (to this account or another). */
  async insert(passkey: Omit<PasskeyRow, 'createdAt' | 'lastUsedAt'>): Promise<boolean> {
    const rows: unknown[] = await this.db.query(
      `INSERT INTO passkeys (id, account_id, credential_id, public_key, sign_count, transports, backup_eligible, backed_up, aaguid, name)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (credential_id) DO NOTHING RETURNING id`,
      [
        passkey.id,
        passkey.accountId,
        passkey.credentialId,
        Buffer.from(passkey.publicKey),
        passkey.signCount,
        passkey.transports,
        passkey.backupEligible,
        passkey.backedUp,
        passkey.aaguid,
        passkey.name,
      ],
    );
    return rows.length > 0;
  }

  /**
   * Records a use: only when the counter is the one the assertion was checked against, so of two
   * concurrent assertions with the same counter only one passes (a cloned authenticator's replay).
   */
  async recordUse(id: string, checkedCount: number, newCount: number, backedUp: boolean): Promise<boolean> {
    const [, affected] = (await this.db.query(
      `UPDATE passkeys SET sign_count = $3, backed_up = $4, last_used_at = now() WHERE id = $1 AND sign_count = $2`,
      [id, checkedCount, newCount, backedUp],
    )) as [unknown[], number];
    return affected > 0;
  }

  async delete(accountId: string, id: string): Promise<boolean> {
    const [, affected] = (await this.db.query(`DELETE FROM passkeys WHERE account_id = $1 AND id = $2`, [accountId, id])) as [
      unknown[],
      number,
    ];
    return affected > 0;
  }

  async deleteAllFor(accountId: string): Promise<number> {
    const [, affected] = (await this.db.query(`DELETE FROM passkeys WHERE account_id = $1`, [accountId])) as [unknown[], number];
    return affected;
  }
}
