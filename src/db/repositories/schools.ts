import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import { SchoolEntity, type School } from '../entities/index.ts';

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
}
