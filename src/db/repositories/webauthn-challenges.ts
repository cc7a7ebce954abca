import type { EntityManager } from 'typeorm';

export type ChallengePurpose = 'register' | 'sign_in' | 'second_step' | 'confirm';

export class WebAuthnChallengesRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  /** Stores the live challenge of a purpose and binding, replacing any earlier one. */
  async put(purpose: ChallengePurpose, binding: string, challengeHash: string, accountId: string | null, expiresAt: Date): Promise<void> {
    await this.db.query(
      `INSERT INTO webauthn_challenges (purpose, binding, challenge_hash, account_id, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (purpose, binding)
       DO UPDATE SET challenge_hash = EXCLUDED.challenge_hash, account_id = EXCLUDED.account_id, expires_at = EXCLUDED.expires_at`,
      [purpose, binding, challengeHash, accountId, expiresAt],
    );
  }

  /**
   * Takes the challenge if it is the live one for this purpose and binding: it is deleted in the
   * same statement, so it answers one ceremony only, in whichever process. Returns the account it
   * was issued for (null for a sign-in, where nobody is known yet), or undefined if none matched.
   */
  async take(purpose: ChallengePurpose, binding: string, challengeHash: string): Promise<{ accountId: string | null } | undefined> {
    // TypeORM answers a DELETE with [rows, affected].
    const [rows] = (await this.db.query(
      `DELETE FROM webauthn_challenges
        WHERE purpose = $1 AND binding = $2 AND challenge_hash = $3 AND expires_at > now()
        RETURNING account_id`,
      [purpose, binding, challengeHash],
    )) as [Array<{ account_id: string | null }>, number];
    return rows[0] ? { accountId: rows[0].account_id } : undefined;
  }

  async deleteExpired(before: Date): Promise<number> {
    const [, affected] = (await this.db.query(`DELETE FROM webauthn_challenges WHERE expires_at < $1`, [before])) as [unknown[], number];
    return affected;
  }
}
