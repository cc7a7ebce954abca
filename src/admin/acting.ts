import type { AuditService } from '../domain/audit.ts';
import { type Authority, describeActor } from './authority.ts';

/** What an administrative act was about, for its audit event. */
export type Target = {
  schoolId?: string | undefined;
  accountId?: string | undefined;
  email?: string | undefined;
  detail?: Record<string, unknown> | undefined;
};

/**
 * Every administrative act, from any front end, is one audit event naming the actor, the school
 * and the target: a success once done, or a failure with the reason (a refusal included).
 */
export async function act<T>(
  audit: AuditService,
  authority: Authority,
  event: string,
  target: Target,
  work: () => Promise<T>,
  outcomeDetail: (result: T) => Record<string, unknown> = () => ({}),
): Promise<T> {
  const base = {
    event: `admin.${event}`,
    schoolId: target.schoolId,
    accountId: target.accountId,
    email: target.email,
    ip: authority.ip,
  };
  const detail = { ...target.detail, actor: describeActor(authority.actor) };
  try {
    const result = await work();
    await audit.record({ ...base, outcome: 'success', detail: { ...detail, ...outcomeDetail(result) } });
    return result;
  } catch (error) {
    await audit.record({ ...base, outcome: 'failure', reason: (error as Error).message, detail });
    throw error;
  }
}
