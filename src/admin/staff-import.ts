import crypto from 'node:crypto';
import type { AccessLevel, School } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import { validationError } from '../domain/errors.ts';
import type { ResetRequestOutcome } from '../domain/password-reset.ts';
import type { Message } from '../i18n/words.ts';
import { act } from './acting.ts';
import type { Authority } from './authority.ts';
import { type ImportProblem, readStaffCsv, type StaffCsvRow } from './staff-csv.ts';
import type { StaffAdministration, StaffDeps } from './staff.ts';
import { onceMoreIfRaced } from '../db/retry.ts';

/** What importing one row will do (or did) at the school. */
export type PlannedRow = StaffCsvRow & {
  result: 'added' | 'changed' | 'unchanged';
  /** No account has this address yet: the import creates it. */
  newAccount: boolean;
  /** The level at the school before the import, when on its staff. */
  currentLevel: AccessLevel | null;
  accountId: string | null;
  hasPassword: boolean;
};

/** A staff import as it stands now: nothing written. `ready` when it can be applied as it is. */
export type ImportPreview = {
  school: School;
  added: PlannedRow[];
  changed: PlannedRow[];
  unchanged: PlannedRow[];
  problems: ImportProblem[];
  /** Why the file as a whole cannot be imported (too large, too many rows, empty), or null. */
  fileProblem: string | null;
  /** The same, as words for a page. */
  fileProblemWords: Message | null;
  rowCount: number;
  ready: boolean;
};

export type ImportOutcome = {
  added: number;
  changed: number;
  unchanged: number;
  accountsCreated: number;
  /** First-time emails sent to people added who have never set a password, and those that could not be (throttled, locked, mail down). */
  emailsSent: number;
  emailsNotSent: number;
};

/** First-time emails go out a few at a time: a large import must not open hundreds of SMTP connections. */
const MAIL_CONCURRENCY = 4;

/** "line 7: …; line 9: … and 3 more": the first problems of an import, for a refusal's message. */
function summary(preview: ImportPreview): string {
  if (preview.fileProblem) return `Nothing was imported. ${preview.fileProblem}`;
  const shown = preview.problems.slice(0, 3).map((problem) => problem.message);
  const more = preview.problems.length - shown.length;
  return `Nothing was imported: the file has ${preview.problems.length === 1 ? 'a problem' : `${preview.problems.length} problems`}. ${shown.join('; ')}${more > 0 ? ` and ${more} more` : ''}.`;
}

/**
 * A school's staff from a CSV file of `email,name,level`: a preview that writes nothing, then
 * the import itself, which checks again and writes every row or none.
 */
export class StaffImport {
  private readonly deps: StaffDeps & { staff: StaffAdministration };

  constructor(deps: StaffDeps & { staff: StaffAdministration }) {
    this.deps = deps;
  }

  /** What importing the file would do now: who is added (and whose account is new), changed, left alone, and each bad line. */
  async preview(authority: Authority, schoolId: string, csvText: string): Promise<ImportPreview> {
    const school = await this.deps.staff.getSchool(authority, schoolId);
    return this.plan(this.deps.repositories, school, csvText);
  }

  /**
   * Imports the file in one transaction, refused whole (a validation error) if any row is bad as
   * things stand now; then sends the first-time email to each person added who has never set a
   * password. One audit event, admin.member.import, with the counts.
   */
  apply(authority: Authority, schoolId: string, csvText: string): Promise<ImportOutcome> {
    return act(
      this.deps.audit,
      authority,
      'member.import',
      { schoolId },
      async () => {
        const school = await this.deps.staff.getSchool(authority, schoolId);
        const plan = await onceMoreIfRaced(() =>
          this.deps.transaction(async (repositories) => {
            const preview = await this.plan(repositories, school, csvText);
            if (!preview.ready) throw validationError(summary(preview), 'csv');
            const created = preview.added
              .filter((row) => row.newAccount)
              .map((row) => ({ id: crypto.randomUUID(), email: row.email, name: row.name, row }));
            await repositories.staffImport.insertAccounts(created);
            for (const { id, row } of created) row.accountId = id;
            await repositories.staffImport.setLevels(
              school.id,
              [...preview.added, ...preview.changed].map((row) => ({ accountId: row.accountId!, level: row.level })),
            );
            return preview;
          }),
        );
        const invitees = plan.added.filter((row) => !row.hasPassword).map((row) => row.email);
        const outcomes = await this.sendFirstTimeEmails(authority, invitees, plan.school);
        const emailsSent = outcomes.filter((outcome) => outcome === 'sent').length;
        return {
          added: plan.added.length,
          changed: plan.changed.length,
          unchanged: plan.unchanged.length,
          accountsCreated: plan.added.filter((row) => row.newAccount).length,
          emailsSent,
          emailsNotSent: invitees.length - emailsSent,
        };
      },
      (outcome) => ({ ...outcome }),
    );
  }

  private async plan(repositories: Repositories, school: School, csvText: string): Promise<ImportPreview> {
    const csv = readStaffCsv(csvText);
    const base = {
      school,
      problems: csv.problems,
      fileProblem: csv.fileProblem,
      fileProblemWords: csv.fileProblemWords,
      rowCount: csv.rowCount,
    };
    const known =
      csv.rows.length > 0
        ? await repositories.staffImport.known(
            school.id,
            csv.rows.map((row) => row.normalised),
          )
        : new Map();
    const planned: PlannedRow[] = csv.rows.map((row) => {
      const account = known.get(row.normalised);
      const currentLevel = account?.level ?? null;
      const result = currentLevel === null ? 'added' : currentLevel === row.level ? 'unchanged' : 'changed';
      return {
        ...row,
        result,
        newAccount: !account,
        currentLevel,
        accountId: account?.accountId ?? null,
        hasPassword: account?.hasPassword ?? false,
      };
    });
    return {
      ...base,
      added: planned.filter((row) => row.result === 'added'),
      changed: planned.filter((row) => row.result === 'changed'),
      unchanged: planned.filter((row) => row.result === 'unchanged'),
      ready: csv.fileProblem === null && csv.problems.length === 0 && planned.length > 0,
    };
  }

  /** After the commit, a few at a time; a failure to send is counted, never undoes the import. */
  private async sendFirstTimeEmails(
    authority: Authority,
    emails: readonly string[],
    school: School,
  ): Promise<Array<ResetRequestOutcome | 'failed'>> {
    const outcomes: Array<ResetRequestOutcome | 'failed'> = [];
    let next = 0;
    const worker = async () => {
      while (next < emails.length) {
        const email = emails[next++]!;
        outcomes.push(
          await this.deps.passwordReset
            .request(email, null, { ip: authority.ip ?? 'admin', schoolName: school.name, schoolId: school.id })
            .catch(() => 'failed' as const),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAIL_CONCURRENCY, emails.length) }, worker));
    return outcomes;
  }
}
