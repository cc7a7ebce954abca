import crypto from 'node:crypto';
import type { School } from '../db/entities/index.ts';
import type { Repositories } from '../db/repositories/index.ts';
import { notFound } from './errors.ts';

export class SchoolService {
  private readonly repositories: Repositories;

  constructor(repositories: Repositories) {
    this.repositories = repositories;
  }

  add(input: { name: string; postcode: string }): Promise<School> {
    return this.repositories.schools.insert({ id: crypto.randomUUID(), name: input.name, postcode: input.postcode });
  }

  list(): Promise<School[]> {
    return this.repositories.schools.list();
  }

  /** A school's name, if it (still) exists. */
  async nameOf(id: string): Promise<string | undefined> {
    return (await this.repositories.schools.findByIds([id]))[0]?.name;
  }

  async requireAll(ids: string[]): Promise<School[]> {
    const unique = [...new Set(ids)];
    const found = await this.repositories.schools.findByIds(unique);
    const missing = unique.filter((id) => !found.some((school) => school.id === id));
    if (missing.length > 0) {
      const ids = missing.join(', ');
      throw notFound(`No school has the id ${ids}.`, { key: 'console.clientRules.noSchoolId', values: { ids } });
    }
    return found;
  }
}
