import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { School } from '../src/db/entities/index.ts';
import type { Repositories, UnitOfWork } from '../src/db/repositories/index.ts';
import { ClientService, isLoopbackHttp, uriProblem } from '../src/domain/clients.ts';

/**
 * Unit tests of the client registration rules (which URIs are accepted, what metadata a client
 * gets), over in-memory repositories. test/oidc-flow.test.ts and test/admin-cli.test.ts keep the
 * end-to-end path through the CLI and PostgreSQL.
 */

describe('redirect and logout URIs', () => {
  test('https anywhere; http only on loopback', () => {
    expect(uriProblem('https://school.example/callback')).toBeNull();
    expect(uriProblem('http://localhost:3000/cb')).toBeNull();
    expect(uriProblem('http://127.0.0.1/cb')).toBeNull();
    expect(uriProblem('http://[::1]:8080/cb')).toBeNull();
    expect(uriProblem('http://school.example/cb')).toBe(
      'http://school.example/cb must use https (http is allowed only on localhost for development).',
    );
    expect(uriProblem('ftp://localhost/cb')).toMatch(/must use https/);
  });

  test('no relative URL, wildcard, fragment or credentials', () => {
    expect(uriProblem('/callback')).toBe('/callback is not an absolute URL.');
    expect(uriProblem('https://*.school.example/cb')).toBe(
      'https://*.school.example/cb contains a wildcard; register each address exactly.',
    );
    expect(uriProblem('https://school.example/cb?x=*')).toMatch(/wildcard/);
    expect(uriProblem('https://school.example/cb#top')).toBe('https://school.example/cb#top must not contain a fragment (#).');
    expect(uriProblem('https://user@school.example/cb')).toBe('https://user@school.example/cb must not contain a user name or password.');
    expect(uriProblem('https://:secret@school.example/cb')).toMatch(/user name or password/);
  });

  test('loopback over http is recognised by host, not by look', () => {
    expect(isLoopbackHttp('http://localhost:4000/logout')).toBe(true);
    expect(isLoopbackHttp('http://127.0.0.1/logout')).toBe(true);
    expect(isLoopbackHttp('https://localhost/logout')).toBe(false);
    expect(isLoopbackHttp('http://localhost.evil.example/logout')).toBe(false);
    expect(isLoopbackHttp('not a url')).toBe(false);
  });
});

describe('ClientService (in-memory repositories)', () => {
  const ASH: School = { id: 's-a', name: 'Ash', postcode: 'AB1 2CD', createdAt: new Date(0) };

  function world() {
    const clients = new Map<string, AdapterPayload>();
    const links: Array<[string, string[]]> = [];
    const repositories = {
      schools: { findByIds: async (ids: string[]) => [ASH].filter((school) => ids.includes(school.id)) },
      clientSchools: { link: async (clientId: string, schoolIds: string[]) => void links.push([clientId, schoolIds]) },
    } as unknown as Repositories;
    const store = {
      upsert: async (id: string, payload: AdapterPayload) => void clients.set(id, payload),
      find: async (id: string) => clients.get(id),
    } as unknown as Adapter;
    const transaction: UnitOfWork = async (work) => work(repositories);
    return { service: new ClientService(transaction, () => store), clients, links };
  }

  test('a school system gets code flow with refresh tokens, a random id and secret, and basic authentication', async () => {
    const { service, clients, links } = world();
    const { clientId, clientSecret } = await service.add({
      name: 'Ash MIS',
      schoolIds: ['s-a', 's-a'],
      redirectUris: ['https://mis.example/cb'],
      postLogoutRedirectUris: ['https://mis.example/bye'],
      initiateLoginUri: 'https://mis.example/login',
      backchannelLogoutUri: 'https://mis.example/backchannel',
    });
    expect(clientId).toMatch(/^gh_[\w-]{16}$/);
    expect(Buffer.from(clientSecret, 'base64url')).toHaveLength(32);
    expect(clients.get(clientId)).toEqual({
      client_id: clientId,
      client_secret: clientSecret,
      client_id_issued_at: expect.any(Number),
      client_name: 'Ash MIS',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['https://mis.example/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
      // Never the management API's scope: that comes only with an API role.
      scope: 'openid offline_access email profile school',
      post_logout_redirect_uris: ['https://mis.example/bye'],
      initiate_login_uri: 'https://mis.example/login',
      backchannel_logout_uri: 'https://mis.example/backchannel',
      backchannel_logout_session_required: true,
    });
    expect(Math.abs((clients.get(clientId)!.client_id_issued_at as number) - Date.now() / 1000)).toBeLessThan(5);
    expect(links).toEqual([[clientId, ['s-a', 's-a']]]);
    const other = await service.add({ name: 'Ash MIS', schoolIds: ['s-a'], redirectUris: ['https://mis.example/cb'] });
    expect(other.clientId).not.toBe(clientId);
    expect(clients.get(other.clientId)).not.toHaveProperty('post_logout_redirect_uris');
    expect(clients.get(other.clientId)).not.toHaveProperty('backchannel_logout_uri');
  });

  test('a machine client gets client_credentials only, and no redirect URI', async () => {
    const { service, clients } = world();
    const { clientId } = await service.add({ name: 'Sync', schoolIds: ['s-a'], machine: true, redirectUris: [] });
    expect(clients.get(clientId)).toMatchObject({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
    await expect(service.add({ name: 'Sync', schoolIds: ['s-a'], machine: true, redirectUris: ['https://x.example/cb'] })).rejects.toThrow(
      'takes no redirect URI',
    );
  });

  test('any bad URI, no redirect URI, or an unknown school registers nothing', async () => {
    const { service, clients, links } = world();
    await expect(service.add({ name: 'X', schoolIds: ['s-a'], redirectUris: [] })).rejects.toThrow('at least one redirect URI');
    await expect(service.add({ name: 'X', schoolIds: ['s-a'], redirectUris: ['http://mis.example/cb'] })).rejects.toThrow('must use https');
    await expect(
      service.add({
        name: 'X',
        schoolIds: ['s-a'],
        redirectUris: ['https://mis.example/cb'],
        postLogoutRedirectUris: ['https://mis.example/#x'],
      }),
    ).rejects.toThrow('fragment');
    await expect(
      service.add({
        name: 'X',
        schoolIds: ['s-a'],
        redirectUris: ['https://mis.example/cb'],
        backchannelLogoutUri: 'http://mis.example/bc',
      }),
    ).rejects.toThrow('must use https');
    await expect(
      service.add({ name: 'X', schoolIds: ['s-a'], redirectUris: ['https://mis.example/cb'], initiateLoginUri: 'https://*.mis.example/' }),
    ).rejects.toThrow('wildcard');
    await expect(service.add({ name: 'X', schoolIds: ['s-a', 's-zz'], redirectUris: ['https://mis.example/cb'] })).rejects.toThrow(
      'No school has the id s-zz.',
    );
    expect(clients.size).toBe(0);
    expect(links).toEqual([]);
  });

  test('linking needs an existing client and existing schools', async () => {
    const { service, links } = world();
    const { clientId } = await service.add({ name: 'X', schoolIds: ['s-a'], redirectUris: ['https://mis.example/cb'] });
    await expect(service.link('gh_unknown', ['s-a'])).rejects.toThrow('No client has the id gh_unknown.');
    await expect(service.link(clientId, ['s-zz'])).rejects.toThrow('No school has the id s-zz.');
    await expect(service.link(clientId, ['s-y', 's-a', 's-z', 's-y'])).rejects.toThrow('No school has the id s-y, s-z.');
    await service.link(clientId, ['s-a']);
    expect(links).toEqual([
      [clientId, ['s-a']],
      [clientId, ['s-a']],
    ]);
  });
});
