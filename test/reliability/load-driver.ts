import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  HttpAnswer,
  HttpClient,
  HttpRequest,
  jsonOf,
  transportErrorName,
} from './http-client';

export const VIRTUAL_USER_PASSWORD = 'Reliability suite passphrase 8231';

/** What one route answered in one phase: every outcome counted, 2xx latencies kept. */
export interface RouteFigures {
  requests: number;
  latenciesMs: number[];
}

/** One stretch of the run (steady load, an outage, the recovery after it). */
export class PhaseStats {
  readonly startedAt = Date.now();
  endedAt: number | undefined;
  readonly routes = new Map<string, RouteFigures>();
  /** `200`, `503 database_unavailable`, `transport ECONNREFUSED`, … → count. */
  readonly outcomes = new Map<string, number>();
  /** When each outcome was last seen (ms since the epoch). */
  readonly lastSeen = new Map<string, number>();

  constructor(readonly name: string) {}

  record(route: string, outcome: string, latencyMs: number): void {
    const figures = this.routes.get(route) ?? { requests: 0, latenciesMs: [] };
    figures.requests++;
    if (/^2\d\d$/.test(outcome)) figures.latenciesMs.push(latencyMs);
    this.routes.set(route, figures);
    this.outcomes.set(outcome, (this.outcomes.get(outcome) ?? 0) + 1);
    this.lastSeen.set(outcome, Date.now());
  }

  /** Outcomes that are not a 2xx, with their counts. */
  failures(): Record<string, number> {
    return Object.fromEntries(
      [...this.outcomes].filter(([outcome]) => !/^2\d\d$/.test(outcome)),
    );
  }

  /** The last time an outcome other than a 2xx was seen, or undefined. */
  lastFailureAt(): number | undefined {
    const times = [...this.lastSeen]
      .filter(([outcome]) => !/^2\d\d$/.test(outcome))
      .map(([, at]) => at);
    return times.length ? Math.max(...times) : undefined;
  }

  summary(): PhaseSummary {
    const seconds = ((this.endedAt ?? Date.now()) - this.startedAt) / 1000;
    const routes: PhaseSummary['routes'] = {};
    let requests = 0;
    for (const [route, figures] of [...this.routes].sort()) {
      requests += figures.requests;
      const sorted = [...figures.latenciesMs].sort((a, b) => a - b);
      routes[route] = {
        requests: figures.requests,
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
      };
    }
    return {
      seconds: round(seconds),
      requests,
      requestsPerSecond: round(requests / Math.max(seconds, 0.001)),
      failures: this.failures(),
      routes,
    };
  }
}

export interface PhaseSummary {
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  failures: Record<string, number>;
  routes: Record<string, { requests: number; p50Ms: number; p99Ms: number }>;
}

interface ProfileBody {
  fullName: string;
  dateOfBirth: string;
  phone: string;
  address: string;
  nationalId: string;
}

interface ContactBody {
  fullName: string;
  email: string;
  phone: string;
  address: string;
  notes: string;
}

interface DocumentBody {
  id: string;
  sizeBytes: number;
}

/**
 * One account driven by one loop, one request at a time, and the ledger of what it wrote: each
 * acknowledged write (a 2xx) and each write whose outcome is unknown (a 5xx or a transport
 * error: it may or may not have been made).
 */
export class VirtualUser {
  accessToken: string | undefined;
  refreshToken: string | undefined;
  writes = 0;
  /** The profile is one of these: the last acknowledged PUT, or an unknown-outcome PUT since. */
  profileCandidates: ProfileBody[] = [];
  readonly contacts = new Map<string, ContactBody>();
  readonly maybeContacts: ContactBody[] = [];
  readonly documents = new Map<string, DocumentBody>();
  maybeDocuments = 0;
  /** When this user last got a 2xx (ms since the epoch). */
  lastSuccessAt = 0;

  constructor(
    readonly index: number,
    readonly email: string,
  ) {}

  /** The token pair of a login or refresh answer. */
  takeTokens(answer: HttpAnswer): void {
    const pair = jsonOf<{ accessToken: string; refreshToken: string }>(answer);
    this.accessToken = pair.accessToken;
    this.refreshToken = pair.refreshToken;
  }

  tag(): string {
    return `vu${this.index}-w${++this.writes}`;
  }
}

type Operation = (user: VirtualUser) => Promise<void>;

/** Read-backs that did not match the ledger (a lost or corrupted write). */
export interface LedgerProblem {
  user: number;
  what: string;
}

/**
 * N virtual users, each its own account and session, running a weighted mix of the API's
 * everyday operations over keep-alive connections (one each). Every answer is counted per phase
 * and route; every read is checked against what the user's acknowledged writes say it must be.
 * A 401 `session_locked`/`invalid_token` makes the user log in again; a 5xx or transport error
 * makes it wait 100 ms (a reasonable client), then go on.
 */
export class LoadDriver {
  readonly client: HttpClient;
  readonly users: VirtualUser[] = [];
  readonly readMismatches: LedgerProblem[] = [];
  phase: PhaseStats = new PhaseStats('idle');
  private running: Promise<void>[] = [];
  private stopping = false;
  private readonly runTag = randomBytes(3).toString('hex');
  /** Pause between a user's requests (0: as fast as the server answers). */
  thinkMs = 0;

  private readonly mix: [number, Operation][] = [
    [20, (u) => this.readProfile(u)],
    [10, (u) => this.writeProfile(u)],
    [15, (u) => this.createContact(u)],
    [15, (u) => this.listContacts(u)],
    [10, (u) => this.searchContact(u)],
    [15, (u) => this.getContact(u)],
    [2, (u) => this.createDocument(u)],
    [5, (u) => this.downloadDocument(u)],
    [3, (u) => this.refresh(u)],
  ];

  constructor(port: number, connections: number) {
    this.client = new HttpClient(port, connections + 4);
    for (let i = 0; i < connections; i++)
      this.users.push(
        new VirtualUser(i, `vu${i}.${this.runTag}@reliability.example.org`),
      );
  }

  /** Registers every user (argon2id: a few at a time) and logs each in. */
  async registerAll(): Promise<void> {
    const queue = [...this.users];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let user = queue.shift(); user; user = queue.shift()) {
          const answer = await this.client.send({
            method: 'POST',
            path: '/v1/auth/register',
            json: { email: user.email, password: VIRTUAL_USER_PASSWORD },
          });
          if (answer.status !== 201)
            throw new Error(`register answered ${answer.status}`);
          await this.login(user);
          if (!user.accessToken) throw new Error('login failed after register');
        }
      }),
    );
  }

  startPhase(name: string): PhaseStats {
    this.phase.endedAt = Date.now();
    this.phase = new PhaseStats(name);
    return this.phase;
  }

  start(): void {
    this.stopping = false;
    this.running = this.users.map((user) => this.loop(user));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
    this.phase.endedAt = Date.now();
  }

  close(): void {
    this.client.close();
  }

  private async loop(user: VirtualUser): Promise<void> {
    const total = this.mix.reduce((sum, [weight]) => sum + weight, 0);
    while (!this.stopping) {
      if (!user.accessToken) {
        await this.login(user);
        continue;
      }
      let pick = Math.random() * total;
      const operation = this.mix.find(([weight]) => (pick -= weight) < 0)!;
      await operation[1](user);
      if (this.thinkMs) await sleep(this.thinkMs);
    }
  }

  /**
   * One request, timed and counted under `route`; undefined after a transport error. A 401 of
   * the session ends it (log in again); a 5xx or transport error waits 100 ms.
   */
  private async call(
    user: VirtualUser,
    route: string,
    request: HttpRequest,
  ): Promise<HttpAnswer | undefined> {
    const started = performance.now();
    try {
      const answer = await this.client.send({
        ...request,
        token: request.token ?? user.accessToken,
      });
      const outcome =
        answer.status < 400
          ? String(answer.status)
          : `${answer.status} ${answer.code ?? '(no code)'}`;
      // Counted in the phase it ends in: an answer that an outage cut belongs to the outage.
      this.phase.record(route, outcome, performance.now() - started);
      if (answer.status < 300) user.lastSuccessAt = Date.now();
      if (
        answer.status === 401 &&
        (answer.code === 'session_locked' || answer.code === 'invalid_token')
      )
        user.accessToken = undefined;
      if (answer.status >= 500) await sleep(100);
      return answer;
    } catch (error) {
      this.phase.record(
        route,
        `transport ${transportErrorName(error)}`,
        performance.now() - started,
      );
      await sleep(100);
      return undefined;
    }
  }

  private async login(user: VirtualUser): Promise<void> {
    const answer = await this.call(user, 'POST /v1/auth/login', {
      method: 'POST',
      path: '/v1/auth/login',
      json: { email: user.email, password: VIRTUAL_USER_PASSWORD },
      token: '',
    });
    if (answer?.status === 200) user.takeTokens(answer);
  }

  private async refresh(user: VirtualUser): Promise<void> {
    const answer = await this.call(user, 'POST /v1/auth/refresh', {
      method: 'POST',
      path: '/v1/auth/refresh',
      json: { refreshToken: user.refreshToken },
      token: '',
    });
    if (answer?.status === 200) user.takeTokens(answer);
    else if (answer === undefined || answer.status === 401) {
      // Cut (the app killed mid-request): the refresh may have committed, spending this token,
      // and replaying a spent token rightly ends the session (401 invalid_token). Log in again
      // instead, as a careful client does when it cannot know.
      user.accessToken = undefined;
      user.refreshToken = undefined;
    }
  }

  private async readProfile(user: VirtualUser): Promise<void> {
    const answer = await this.call(user, 'GET /v1/me/profile', {
      method: 'GET',
      path: '/v1/me/profile',
    });
    if (answer?.status === 200) this.checkProfile(user, jsonOf(answer));
  }

  private checkProfile(user: VirtualUser, profile: unknown): boolean {
    if (user.profileCandidates.length === 0) return true;
    const matches = user.profileCandidates.some((candidate) =>
      sameFields(candidate, profile),
    );
    if (!matches)
      this.readMismatches.push({
        user: user.index,
        what: `profile ${JSON.stringify(profile)} is none of the acknowledged or unknown-outcome writes`,
      });
    return matches;
  }

  private async writeProfile(user: VirtualUser): Promise<void> {
    const tag = user.tag();
    const body: ProfileBody = {
      fullName: `Profile ${tag}`,
      dateOfBirth: `19${10 + (user.writes % 89)}-0${1 + (user.writes % 9)}-1${user.writes % 9}`,
      phone: `+44 20 ${String(user.writes).padStart(4, '0')} ${user.index}`,
      address: `${user.writes} Reliability Row, ${tag}`,
      nationalId: `NI${tag}`,
    };
    const answer = await this.call(user, 'PUT /v1/me/profile', {
      method: 'PUT',
      path: '/v1/me/profile',
      json: body,
    });
    if (answer && answer.status < 300) {
      user.profileCandidates = [body];
      this.checkProfile(user, jsonOf(answer));
    } else if (!answer || answer.status >= 500) {
      user.profileCandidates.push(body);
    }
  }

  private async createContact(user: VirtualUser): Promise<void> {
    const tag = user.tag();
    const body: ContactBody = {
      fullName: `Contact ${tag}`,
      email: `${tag}.${this.runTag}@contacts.example.org`,
      phone: `+1 555 ${String(user.writes).padStart(4, '0')}`,
      address: `${user.writes} Ledger Lane`,
      notes: `written by ${tag}`,
    };
    const answer = await this.call(user, 'POST /v1/contacts', {
      method: 'POST',
      path: '/v1/contacts',
      json: body,
    });
    if (answer && answer.status < 300) {
      const created = jsonOf<{ id: string }>(answer);
      user.contacts.set(created.id, body);
      this.checkContact(user, created, body);
    } else if (!answer || answer.status >= 500) {
      user.maybeContacts.push(body);
    }
  }

  private checkContact(
    user: VirtualUser,
    found: unknown,
    expected: ContactBody,
  ): void {
    if (!sameFields(expected, found))
      this.readMismatches.push({
        user: user.index,
        what: `contact ${JSON.stringify(found)} should be ${JSON.stringify(expected)}`,
      });
  }

  private anyContact(user: VirtualUser): [string, ContactBody] | undefined {
    const ids = [...user.contacts.keys()];
    if (!ids.length) return undefined;
    const id = ids[Math.floor(Math.random() * ids.length)];
    return [id, user.contacts.get(id)!];
  }

  private async listContacts(user: VirtualUser): Promise<void> {
    const answer = await this.call(user, 'GET /v1/contacts', {
      method: 'GET',
      path: '/v1/contacts?limit=20',
    });
    if (answer?.status !== 200) return;
    for (const item of jsonOf<{ items: { id: string }[] }>(answer).items) {
      const expected = user.contacts.get(item.id);
      if (expected) this.checkContact(user, item, expected);
    }
  }

  private async searchContact(user: VirtualUser): Promise<void> {
    const picked = this.anyContact(user);
    if (!picked) return this.createContact(user);
    const [id, body] = picked;
    const answer = await this.call(user, 'GET /v1/contacts?email', {
      method: 'GET',
      path: `/v1/contacts?email=${encodeURIComponent(body.email)}`,
    });
    if (answer?.status !== 200) return;
    const items = jsonOf<{ items: { id: string }[] }>(answer).items;
    const found = items.find((item) => item.id === id);
    if (!found)
      this.readMismatches.push({
        user: user.index,
        what: `search by email did not find contact ${id}`,
      });
    else this.checkContact(user, found, body);
  }

  private async getContact(user: VirtualUser): Promise<void> {
    const picked = this.anyContact(user);
    if (!picked) return this.createContact(user);
    const [id, body] = picked;
    const answer = await this.call(user, 'GET /v1/contacts/{id}', {
      method: 'GET',
      path: `/v1/contacts/${id}`,
    });
    if (answer?.status === 200) this.checkContact(user, jsonOf(answer), body);
  }

  private async createDocument(user: VirtualUser): Promise<void> {
    const answer = await this.call(user, 'POST /v1/documents', {
      method: 'POST',
      path: '/v1/documents',
      json: { kind: 'profile-summary' },
    });
    if (answer && answer.status < 300) {
      const created = jsonOf<DocumentBody>(answer);
      user.documents.set(created.id, {
        id: created.id,
        sizeBytes: created.sizeBytes,
      });
    } else if (!answer || answer.status >= 500) {
      user.maybeDocuments++;
    }
  }

  private async downloadDocument(user: VirtualUser): Promise<void> {
    const ids = [...user.documents.keys()];
    if (!ids.length) return this.createDocument(user);
    const document = user.documents.get(
      ids[Math.floor(Math.random() * ids.length)],
    )!;
    await this.readDocument(user, document);
  }

  /** GET /v1/documents/{id} then its content: a PDF of the size the metadata gives. */
  async readDocument(
    user: VirtualUser,
    document: DocumentBody,
  ): Promise<boolean> {
    const meta = await this.call(user, 'GET /v1/documents/{id}', {
      method: 'GET',
      path: `/v1/documents/${document.id}`,
    });
    if (meta?.status !== 200) return false;
    const { sizeBytes } = jsonOf<DocumentBody>(meta);
    const content = await this.call(user, 'GET /v1/documents/{id}/content', {
      method: 'GET',
      path: `/v1/documents/${document.id}/content`,
    });
    if (content?.status !== 200) return false;
    if (
      sizeBytes !== document.sizeBytes ||
      content.body.length !== sizeBytes ||
      content.body.subarray(0, 5).toString('latin1') !== '%PDF-'
    ) {
      this.readMismatches.push({
        user: user.index,
        what: `document ${document.id}: ${content.body.length} bytes, metadata ${sizeBytes}, created ${document.sizeBytes}`,
      });
      return false;
    }
    return true;
  }

  /**
   * After the run, with every dependency up: each user logs in again and reads everything back.
   * Every acknowledged write must be there exactly; anything else there must be an
   * unknown-outcome write of this user's (a 5xx or a cut connection may still have committed).
   */
  async verifyLedger(): Promise<{
    checked: { profiles: number; contacts: number; documents: number };
    problems: LedgerProblem[];
  }> {
    this.startPhase('verify');
    const problems: LedgerProblem[] = [];
    const checked = { profiles: 0, contacts: 0, documents: 0 };
    const mismatchesBefore = this.readMismatches.length;
    for (const user of this.users) {
      const problem = (what: string) =>
        problems.push({ user: user.index, what });
      await this.login(user);
      if (!user.accessToken) {
        problem('cannot log in to verify');
        continue;
      }
      const profile = await this.call(user, 'GET /v1/me/profile', {
        method: 'GET',
        path: '/v1/me/profile',
      });
      if (profile?.status !== 200) problem(`profile: ${profile?.status}`);
      else if (user.profileCandidates.length) {
        this.checkProfile(user, jsonOf(profile));
        checked.profiles++;
      }

      const listed = new Map<string, unknown>();
      let cursor: string | null = null;
      do {
        const page: HttpAnswer | undefined = await this.call(
          user,
          'GET /v1/contacts',
          {
            method: 'GET',
            path: `/v1/contacts?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          },
        );
        if (page?.status !== 200) {
          problem(`contacts page: ${page?.status}`);
          break;
        }
        const body = jsonOf<{
          items: { id: string; fullName: string }[];
          nextCursor: string | null;
        }>(page);
        for (const item of body.items) listed.set(item.id, item);
        cursor = body.nextCursor;
      } while (cursor);
      for (const [id, expected] of user.contacts) {
        const found = listed.get(id);
        if (!found) problem(`acknowledged contact ${id} is gone`);
        else this.checkContact(user, found, expected);
        checked.contacts++;
      }
      for (const [id, found] of listed) {
        if (user.contacts.has(id)) continue;
        if (!user.maybeContacts.some((maybe) => sameFields(maybe, found)))
          problem(`contact ${id} was never written by this user`);
      }

      for (const document of user.documents.values()) {
        if (!(await this.readDocument(user, document)))
          problem(`acknowledged document ${document.id} cannot be read`);
        checked.documents++;
      }
      const list = await this.call(user, 'GET /v1/documents', {
        method: 'GET',
        path: '/v1/documents',
      });
      if (list?.status === 200) {
        // A plain array, or pages of `{items, nextCursor}` (docs/http-api.md#pagination).
        const body = jsonOf<{ id: string }[] | { items: { id: string }[] }>(
          list,
        );
        const items = Array.isArray(body) ? body : body.items;
        const extra = items.filter((item) => !user.documents.has(item.id));
        if (extra.length > user.maybeDocuments)
          problem(
            `${extra.length} documents never acknowledged, ${user.maybeDocuments} unknown outcomes`,
          );
      } else problem(`documents list: ${list?.status}`);
    }
    for (const mismatch of this.readMismatches.slice(mismatchesBefore))
      problems.push(mismatch);
    return { checked, problems };
  }
}

function sameFields(expected: object, found: unknown): boolean {
  if (typeof found !== 'object' || found === null) return false;
  return Object.entries(expected).every(
    ([key, value]) => (found as Record<string, unknown>)[key] === value,
  );
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return round(
    sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))],
  );
}

export function round(value: number): number {
  return Math.round(value * 10) / 10;
}
