import type { EntityManager } from 'typeorm';

export type DeviceRow = {
  id: string;
  accountId: string;
  name: string;
  secretSealed: string;
  createdAt: Date;
  lastUsedAt: Date | null;
};

type Row = {
  id: string;
  account_id: string;
  name: string;
  secret_sealed: string;
  created_at: Date;
  last_used_at: Date | null;
};

const toDevice = (row: Row): DeviceRow => ({
  id: row.id,
  accountId: row.account_id,
  name: row.name,
  secretSealed: row.secret_sealed,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

export class AuthenticatorsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  async listForAccount(accountId: string): Promise<DeviceRow[]> {
    const rows: Row[] = await this.db.query(
      `SELECT id, account_id, name, secret_sealed, created_at, last_used_at
         FROM authenticator_devices WHERE account_id = $1 ORDER BY created_at, id`,
      [accountId],
    );
    return rows.map(toDevice);
  }

  async countForAccount(accountId: string): Promise<number> {
    const rows: Array<{ count: string }> = await this.db.query(
      `SELECT count(*) AS count FROM authenticator_devices WHERE account_id = $1`,
      [accountId],
    );
    return Number(rows[0]?.count ?? 0);
  }

  /** Authenticator devices and passkeys together, in one round trip (every authorization asks). */
  async countSecondFactors(accountId: string): Promise<number> {
    const rows: Array<{ count: string }> = await this.db.query(
      `SELECT (SELECT count(*) FROM authenticator_devices WHERE account_id = $1)
            + (SELECT count(*) FROM passkeys WHERE account_id = $1) AS count`,
      [accountId],
    );
    return Number(rows[0]?.count ?? 0);
  }

  async insert(device: { id: string; accountId: string; name: string; secretSealed: string; step: number }): Promise<void> {
    // The enrolment code counts as used, so it cannot be replayed at the next login.
    await this.db.query(
      `INSERT INTO authenticator_devices (id, account_id, name, secret_sealed, last_used_step)
       VALUES ($1, $2, $3, $4, $5)`,
      [device.id, device.accountId, device.name, device.secretSealed, device.step],
    );
  }

  /**
   * Records a code's time step as used, only if it is later than any step used before on this
   * device: of two concurrent submissions of one code, one wins; an older code never comes back.
   */
  async markStepUsed(deviceId: string, step: number): Promise<boolean> {
    const [, affected] = (await this.db.query(
      `UPDATE authenticator_devices SET last_used_step = $2, last_used_at = now()
        WHERE id = $1 AND (last_used_step IS NULL OR last_used_step < $2)`,
      [deviceId, step],
    )) as [unknown[], number];
    return affected > 0;
  }

  async delete(accountId: string, deviceId: string): Promise<boolean> {
    const [, affected] = (await this.db.query(`DELETE FROM authenticator_devices WHERE account_id = $1 AND id = $2`, [
      accountId,
      deviceId,
    ])) as [unknown[], number];
    return affected > 0;
  }

  async deleteAllFor(accountId: string): Promise<number> {
    const [, affected] = (await this.db.query(`DELETE FROM authenticator_devices WHERE account_id = $1`, [accountId])) as [
      unknown[],
      number,
    ];
    return affected;
  }
}
