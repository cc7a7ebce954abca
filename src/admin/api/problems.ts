import type { Context } from 'koa';
import type { z } from 'zod';

/** An RFC 9457 problem: `type` names the kind of problem, stable for clients to branch on. */
export type Problem = { status: number; kind: string; title: string; detail: string; errors?: Array<{ pointer: string; detail: string }> };

export class ProblemError extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail);
    this.problem = problem;
  }
}

export function sendProblem(ctx: Context, problem: Problem): void {
  ctx.status = problem.status;
  ctx.type = 'application/problem+json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = {
    type: `urn:gatehouse:problem:${problem.kind}`,
    title: problem.title,
    status: problem.status,
    detail: problem.detail,
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
}

/** Zod's issues as JSON pointers into the part of the request they are about. */
export function invalid(where: 'body' | 'query' | 'path', error: z.ZodError): ProblemError {
  const errors = error.issues.map((issue) => ({
    pointer: `/${issue.path.map((part) => String(part).replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`,
    detail: issue.code === 'unrecognized_keys' ? `${issue.keys.join(', ')}: not a field of this request` : issue.message,
  }));
  const first = errors[0];
  return new ProblemError({
    status: where === 'path' ? 404 : 400,
    kind: where === 'path' ? 'not_found' : 'validation',
    title: where === 'path' ? 'Not found' : 'The request is not valid',
    detail:
      where === 'path'
        ? 'No such resource: an id in the path is not one Gatehouse issues.'
        : `The ${where === 'body' ? 'body' : 'query'} is not valid${first ? `: ${first.pointer === '/' ? '' : `${first.pointer.slice(1)} `}${first.detail}` : ''}.`,
    errors: where === 'path' ? undefined : errors,
  });
}
