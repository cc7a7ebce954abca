import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import { SchoolEntity, type School } from '../entities/index.ts';
import { containsPattern } from './like.ts';

type Row = { id: string; name: string; postcode: string; created_at: Date };
const toSchool = (row: Row): School => ({ id: row.id, name: row.name, postcode: row.postcode, createdAt: row.created_at });

export class SchoolsRepository {
  private readonly db: EntityManager;

  constructor(db: EntityManager) {
    this.db = db;
  }

  private get repo() {
    return this.db.getRepository(SchoolEntity);
  }

  async insert(school: Pick<School, 'id' | 'name' | 'postcode'>): Promise<School> {
    return this.repo.save(this.repo.create(school));
  }

  list(): Promise<School[]> {
    return this.repo.find({ order: { name: 'ASC', id: 'ASC' } });
  }

  findByIds(ids: string[]): Promise<School[]> {
    return ids.length === 0 ? Promise.resolve([]) : this.repo.findBy({ id: In(ids) });
  }

  /**
   * Schools by name, at most `limit` after the cursor (the last row's name and id); only those in
   * `within` when given; `search` matches part of the name or the postcode.
   */
  async page(options: {
    within: readonly string[] | null;
    search: string | undefined;
    after: [string, string] | null;
    limit: number;
  }): Promise<School[]> {
    const rows: Row[] = await this.db.query(
      `SELECT id, name, postcode, created_at FROM schools
        WHERE ($1::uuid[] IS NULL OR id = ANY($1::uuid[]))
          AND ($2::text IS NULL OR lower(name) LIKE $2 OR lower(postcode) LIKE $2)
          AND ($3::text IS NULL OR (name, id) > ($3::text, $4::uuid))
        ORDER BY name, id LIMIT $5`,
      [
        options.within,
        options.search ? containsPattern(options.search) : null,
        options.after?.[0] ?? null,
        options.after?.[1] ?? null,
        options.limit,
      ],
    );
    return rows.map(toSchool);
  }
}
