import type { EntityManager } from 'typeorm';

export type ProofFactor = 'password' | 'code';

/** The latest proof of each factor a session gave for an account. */
export type SessionProofs = { passwordAt: Date | null; codeAt: Date | null; codeDeviceId: string | null };

type Row = { factor: ProofFactor; device_id: string | null; proven_at: Date };

export class SessionProofsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /** Keeps only the latest proof of a factor per session and account. */
  async record(sessionUid: string, accountId: string, factor: ProofFactor, deviceId: string | null, at: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO session_proofs (session_uid, account_id, factor, device_id, proven_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (session_uid, account_id, factor)
       DO UPDATE SET device_id = EXCLUDED.device_id, proven_at = EXCLUDED.proven_at`,
      [sessionUid, accountId, factor, deviceId, at],
    );
  }

  async latest(sessionUid: string, accountId: string): Promise<SessionProofs> {
    const rows: Row[] = await this.db.query(
      `SELECT factor, device_id, proven_at FROM session_proofs WHERE session_uid = $1 AND account_id = $2`,
      [sessionUid, accountId],
    );
    const password = rows.find((row) => row.factor === 'password');
    const code = rows.find((row) => row.factor === 'code');
    return { passwordAt: password?.proven_at ?? null, codeAt: code?.proven_at ?? null, codeDeviceId: code?.device_id ?? null };
  }

  async deleteOlderThan(before: Date): Promise<number> {
    const [, affected] = (await this.db.query(`DELETE FROM session_proofs WHERE proven_at < $1`, [before])) as [unknown[], number];
    return affected;
  }
}
