// The query benchmark's data: deterministic call rows that look like a real deployment's. One
// seeded random stream makes the same calls on every run and on both dialects (only the dates
// move with the day the fixture was seeded), so a figure can be traced back to the data.
import { CALL_COLUMNS } from '../../src/modules/calls/calls.repository.js';

/** Bump when anything below changes what is generated: cached fixtures are then reseeded. */
export const FIXTURE_VERSION = 1;

/** The dev-mode tenant (src/modules/identity/identity.ts): every HTTP request reads its calls. */
export const BIG_TENANT = 'local';
/** The big tenant's share of all calls: 200k of the default 1M. */
export const BIG_TENANT_SHARE = 0.2;
export const OTHER_TENANTS = 80;
export const AGENTS = [
  { id: 'agent_support', name: 'Support line', weight: 0.5 },
  { id: 'agent_sales', name: 'Sales line', weight: 0.3 },
  { id: 'agent_billing', name: 'Billing line', weight: 0.2 },
] as const;
/** Calls span this many days before the fixture's anchor (about 13 months). */
export const SPAN_DAYS = 395;

export const tenantIds = (): string[] => [
  BIG_TENANT,
  ...Array.from({ length: OTHER_TENANTS }, (_, i) => `org_bench_${String(i + 1).padStart(2, '0')}`),
];

// --- Random numbers ------------------------------------------------------------------------------

/** sfc32: small, fast, 128 bits of state (a 32-bit generator would cycle within 1M calls). */
export function seededRandom(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (a + b + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 20; i += 1) next();
  return next;
}

/**
 * Walker's alias method: draws index i with probability weights[i] / sum in constant time, which
 * matters when a million transcripts draw a few hundred words each.
 */
export class WeightedPicker {
  private readonly probability: Float64Array;
  private readonly alias: Int32Array;

  constructor(weights: readonly number[]) {
    const n = weights.length;
    const sum = weights.reduce((total, w) => total + w, 0);
    const scaled = weights.map((w) => (w * n) / sum);
    this.probability = new Float64Array(n);
    this.alias = new Int32Array(n);
    const small: number[] = [];
    const large: number[] = [];
    scaled.forEach((p, i) => (p < 1 ? small : large).push(i));
    while (small.length > 0 && large.length > 0) {
      const less = small.pop()!;
      const more = large.pop()!;
      this.probability[less] = scaled[less]!;
      this.alias[less] = more;
      scaled[more] = scaled[more]! + scaled[less]! - 1;
      (scaled[more] < 1 ? small : large).push(more);
    }
    for (const i of [...small, ...large]) this.probability[i] = 1;
  }

  pick(random: () => number): number {
    const i = Math.floor(random() * this.probability.length);
    return random() < this.probability[i]! ? i : this.alias[i]!;
  }
}

const zipfWeights = (n: number, exponent = 1) =>
  Array.from({ length: n }, (_, rank) => 1 / (rank + 1) ** exponent);

// --- Words ---------------------------------------------------------------------------------------

/** The head of the vocabulary, most frequent first: what callers and agents say all the time. */
const HEAD_WORDS = (
  'you the i to a and it is that for can your my this have on we be with me so do what is ' +
  'thank just like yes okay no not help there if but about was at get one it please know an ' +
  'would will all call how are they right here sure let our need see time could now service ' +
  'today from number out up back any great check order go by email then some well also look ' +
  'just make payment card minutes again else when plan hold moment sorry name phone again last ' +
  'thanks day week month working issue team send update confirm problem system new address ' +
  'support through into should been more did because after first changed able help still ' +
  'really think want any other got customer details which called us two three next code link ' +
  'question information charge line app online website access find sent receive business ' +
  'follow transfer change ticket price date each message reset report manager screen'
)
  .split(' ')
  .filter((word, index, all) => word !== '' && all.indexOf(word) === index);

const VOCABULARY_SIZE = 200_000;
const ONSETS = 'b br c ch d dr f g gr h j k l m n p pr qu r s st t tr v w z'.split(' ');
const NUCLEI = 'a e i o u ai ea ou'.split(' ');
const CODAS = ['', 'n', 'r', 's', 'l', 'x', 't'];
const SYLLABLES = ONSETS.length * NUCLEI.length;

/** The long tail: pronounceable made-up words (names, products, places, jargon), one per index. */
function tailWord(index: number): string {
  const syllable = (n: number) =>
    ONSETS[n % ONSETS.length]! + NUCLEI[Math.floor(n / ONSETS.length)]!;
  return (
    syllable(index % SYLLABLES) +
    syllable(Math.floor(index / SYLLABLES) % SYLLABLES) +
    CODAS[Math.floor(index / SYLLABLES ** 2) % CODAS.length]!
  );
}

/**
 * The words searched for, placed at ranks of the Zipf vocabulary so that they land in about
 * 60 %, 2 % and 0.02 % of calls. Their real counts are measured after seeding and printed.
 */
export const SEARCH_TERMS = {
  common: { word: 'account', rank: 28 },
  mid: { word: 'voucher', rank: 1_300 },
  rare: { word: 'chargeback', rank: 130_000 },
} as const;
export type SearchTermKind = keyof typeof SEARCH_TERMS;

function buildVocabulary(): string[] {
  const words: string[] = [...HEAD_WORDS];
  const taken = new Set(words);
  for (const { word } of Object.values(SEARCH_TERMS)) taken.add(word);
  for (let i = 0; words.length < VOCABULARY_SIZE; i += 1) {
    const word = tailWord(i);
    if (!taken.has(word)) {
      taken.add(word);
      words.push(word);
    }
  }
  for (const { word, rank } of Object.values(SEARCH_TERMS)) words[rank - 1] = word;
  return words;
}

// --- Calls ---------------------------------------------------------------------------------------

export const TOPICS = [
  'billing',
  'technical support',
  'cancellation',
  'upgrade',
  'refund request',
  'password reset',
  'shipping',
  'login problem',
  'pricing',
  'invoice',
  'returns',
  'payment failed',
  'account update',
  'onboarding',
  'complaint',
  'delivery delay',
  'warranty',
  'appointment',
  'renewal',
  'downgrade',
  'integration',
  'outage',
  'feedback',
  'contract',
  'security',
  'data export',
  'api access',
  'compliance',
  'sales inquiry',
  'scheduling',
] as const;

const PLANS = [
  { value: 'free', weight: 0.3 },
  { value: 'starter', weight: 0.35 },
  { value: 'pro', weight: 0.25 },
  { value: 'enterprise', weight: 0.1 },
] as const;

const CITIES = (
  'Lisbon,Porto,Madrid,Barcelona,Paris,Lyon,Berlin,Munich,Hamburg,Vienna,Zurich,Milan,Rome,' +
  'Amsterdam,Brussels,Dublin,London,Manchester,Edinburgh,Oslo,Stockholm,Copenhagen,Helsinki,' +
  'Warsaw,Prague,Budapest,Athens,Istanbul,New York,Boston,Chicago,Austin,Denver,Seattle,' +
  'San Francisco,Los Angeles,Toronto,Montreal,Mexico City,Sao Paulo'
).split(',');

const FIRST_NAMES = (
  'Jordan,Alex,Sam,Taylor,Morgan,Casey,Riley,Jamie,Avery,Quinn,Maria,Joao,Ana,Pedro,Sofia,' +
  'Lucas,Emma,Liam,Olivia,Noah,Mia,Ethan,Chloe,Leo,Ines,Tiago,Hannah,Felix,Clara,Omar'
).split(',');
const LAST_NAMES = (
  'Smith,Silva,Santos,Garcia,Muller,Rossi,Dubois,Jansen,Novak,Kowalski,Johnson,Brown,Costa,' +
  'Pereira,Martin,Bernard,Weber,Schmidt,Lopez,Fernandes,Nguyen,Kim,Patel,Cohen,Ali,Murphy'
).split(',');

/** Columns in the order `row()` returns values: every stored column of a call. */
export const SEED_COLUMNS = CALL_COLUMNS;

export type SeedValue = string | number | null;

const DAY_MS = 24 * 3600 * 1000;
const ULID_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** Calls per hour of the UTC day: a business-hours hump over a quiet night. */
const HOUR_WEIGHTS = [
  2, 1, 1, 1, 1, 2, 4, 7, 10, 12, 13, 13, 12, 12, 13, 13, 12, 10, 8, 6, 5, 4, 3, 2,
];

export interface FixtureShape {
  /** How many calls in all, over every tenant. */
  readonly calls: number;
  /** The instant the fixture's time ends: every call started before it. */
  readonly anchor: Date;
}

/**
 * The calls of a fixture, oldest first (as a real database fills), in batches of SEED_COLUMNS
 * value arrays. Deterministic for a given shape.
 */
export class CallGenerator {
  private readonly random = seededRandom(20261204);
  private readonly vocabulary = buildVocabulary();
  private readonly words = new WeightedPicker(zipfWeights(VOCABULARY_SIZE));
  private readonly topics = new WeightedPicker(zipfWeights(TOPICS.length));
  private readonly hours = new WeightedPicker(HOUR_WEIGHTS);
  private readonly agents = new WeightedPicker(AGENTS.map((a) => a.weight));
  private readonly plans = new WeightedPicker(PLANS.map((p) => p.weight));
  private readonly seats = new WeightedPicker(zipfWeights(500, 1.2));
  private readonly tenants = tenantIds();
  /** About 20 calls per number over all tenants, so a callerNumber filter finds a handful. */
  private readonly callerNumbers: number;
  private readonly liveFrom: number;
  private readonly start: number;
  private index = 0;

  constructor(private readonly shape: FixtureShape) {
    this.callerNumbers = Math.max(50, Math.round(shape.calls / 20));
    // The newest few calls are still ringing or in progress.
    this.liveFrom = shape.calls - Math.max(5, Math.round(shape.calls / 5000));
    this.start = shape.anchor.getTime() - SPAN_DAYS * DAY_MS;
  }

  get done(): boolean {
    return this.index >= this.shape.calls;
  }

  /** A phone number of the pool; the same for every run. */
  callerNumber(n: number): string {
    return `+1415${String(2_000_000 + (n % this.callerNumbers)).padStart(7, '0')}`;
  }

  nextBatch(size: number): SeedValue[][] {
    const rows: SeedValue[][] = [];
    while (rows.length < size && !this.done) {
      rows.push(this.row(this.index));
      this.index += 1;
    }
    return rows;
  }

  /** `count` words of the Zipf vocabulary, space-separated. */
  phrase(count: number): string {
    const out: string[] = [];
    for (let i = 0; i < count; i += 1) out.push(this.vocabulary[this.words.pick(this.random)]!);
    return out.join(' ');
  }

  /** A transcript of about `chars` characters: alternating "Agent:" and "Caller:" lines. */
  transcript(chars: number): string {
    const lines: string[] = [];
    let length = 0;
    for (let turn = 0; length < chars; turn += 1) {
      const words = 5 + Math.floor(this.random() * 14);
      const line = `${turn % 2 === 0 ? 'Agent' : 'Caller'}: ${this.phrase(words)}${this.random() < 0.3 ? '?' : '.'}`;
      lines.push(line);
      length += line.length + 1;
    }
    return lines.join('\n');
  }

  private chance(p: number): boolean {
    return this.random() < p;
  }

  private ulid(time: number): string {
    let id = '';
    let t = time;
    for (let i = 0; i < 10; i += 1) {
      id = ULID_ALPHABET[t % 32]! + id;
      t = Math.floor(t / 32);
    }
    for (let i = 0; i < 16; i += 1) id += ULID_ALPHABET[Math.floor(this.random() * 32)];
    return id;
  }

  private hex(chars: number): string {
    let out = '';
    while (out.length < chars) {
      out += Math.floor(this.random() * 0x100000000)
        .toString(16)
        .padStart(8, '0');
    }
    return out.slice(0, chars);
  }

  /** When call i started: days fill oldest to newest with volume growing 2× over the span. */
  private startedAt(i: number): number {
    if (i >= this.liveFrom) {
      return this.shape.anchor.getTime() - Math.floor(this.random() * 30 * 60 * 1000) - 1000;
    }
    const u = (i + this.random()) / this.shape.calls;
    // The inverse of the cumulative share of a volume that grows linearly from 1 to 2.
    const position = -1 + Math.sqrt(1 + 3 * u);
    const day = Math.min(SPAN_DAYS - 1, Math.floor(position * SPAN_DAYS));
    const hour = this.hours.pick(this.random);
    const withinHour = Math.floor(this.random() * 3600 * 1000);
    return Math.min(
      this.start + day * DAY_MS + hour * 3600 * 1000 + withinHour,
      this.shape.anchor.getTime() - 3600 * 1000,
    );
  }

  private row(i: number): SeedValue[] {
    const tenant = this.chance(BIG_TENANT_SHARE)
      ? this.tenants[0]!
      : this.tenants[1 + Math.floor(this.random() * OTHER_TENANTS)]!;
    const started = this.startedAt(i);
    const startedAt = new Date(started).toISOString();
    const id = `call_${this.ulid(started)}`;
    const agent = AGENTS[this.agents.pick(this.random)]!;
    const direction = this.chance(0.7) ? 'inbound' : 'outbound';
    const callerNumber = this.chance(0.97)
      ? this.callerNumber(Math.floor(this.random() * this.callerNumbers))
      : null;
    const callerName = this.chance(0.6)
      ? `${FIRST_NAMES[Math.floor(this.random() * FIRST_NAMES.length)]} ${LAST_NAMES[Math.floor(this.random() * LAST_NAMES.length)]}`
      : null;

    const roll = this.random();
    const status =
      i >= this.liveFrom
        ? this.chance(0.3)
          ? 'ringing'
          : 'in-progress'
        : roll < 0.86
          ? 'completed'
          : roll < 0.94
            ? 'missed'
            : 'failed';

    let duration: number | null = null;
    let endReason: string | null = null;
    let transcript: string | null = null;
    let summary: string | null = null;
    let sentiment: string | null = null;
    let recordingUrl: string | null = null;
    let costMicros: number | null = null;
    const topics: string[] = [];
    let collected: Record<string, unknown> = {};
    let endedMs: number | null = null;

    if (status === 'completed') {
      // Log-normal around 3 minutes with a long tail, capped at two hours.
      const normal =
        Math.sqrt(-2 * Math.log(1 - this.random())) * Math.cos(2 * Math.PI * this.random());
      duration = Math.min(7200, Math.max(5, Math.round(180 * Math.exp(0.9 * normal))));
      const reason = this.random();
      endReason =
        duration >= 7200
          ? 'max_duration'
          : reason < 0.58
            ? 'caller_hangup'
            : reason < 0.93
              ? 'agent_hangup'
              : 'transferred';
      transcript = this.transcript(1000 + Math.floor(this.random() * 2000));
      const topicCount = Math.floor(this.random() * 4);
      for (let t = 0; t < topicCount; t += 1) {
        const topic = TOPICS[this.topics.pick(this.random)]!;
        if (!topics.includes(topic)) topics.push(topic);
      }
      summary =
        `Caller asked about ${topics[0] ?? 'their account'}. ` +
        `${this.phrase(15 + Math.floor(this.random() * 30))}.`;
      const s = this.random();
      sentiment = s < 0.45 ? 'positive' : s < 0.8 ? 'neutral' : s < 0.95 ? 'negative' : null;
      if (this.chance(0.9)) recordingUrl = `https://recordings.example.com/${tenant}/${id}.mp3`;
      costMicros = Math.round(duration * 1200 * (0.8 + 0.4 * this.random()));
      collected = {
        plan: PLANS[this.plans.pick(this.random)]!.value,
        seats: 1 + this.seats.pick(this.random),
        city: CITIES[Math.floor(this.random() * CITIES.length)],
      };
      if (this.chance(0.3))
        collected.orderId = `ORD-${100000 + Math.floor(this.random() * 900000)}`;
      endedMs = started + duration * 1000;
    } else if (status === 'missed') {
      const reason = this.random();
      endReason = reason < 0.6 ? 'no_answer' : reason < 0.85 ? 'voicemail' : 'busy';
      // It rang, nobody answered: an end, but no duration.
      endedMs = started + (15 + Math.floor(this.random() * 30)) * 1000;
    } else if (status === 'failed') {
      endReason = 'error';
      if (this.chance(0.5)) {
        duration = Math.floor(this.random() * 30);
        costMicros = duration * 1000;
      }
      endedMs = started + (duration ?? 0) * 1000;
    }
    const endedAt = endedMs === null ? null : new Date(endedMs).toISOString();
    const updatedAt = endedAt ?? startedAt;

    return [
      id,
      tenant,
      `CA${this.hex(32)}`,
      agent.id,
      tenant === BIG_TENANT ? 'user_bench' : null,
      tenant === BIG_TENANT ? null : tenant,
      direction,
      callerNumber,
      callerName,
      status,
      startedAt,
      endedAt,
      duration,
      recordingUrl,
      transcript,
      sentiment,
      summary,
      JSON.stringify(topics),
      JSON.stringify(collected),
      costMicros,
      startedAt,
      updatedAt,
      'sent',
      duration === null ? null : 'sent',
      'sent',
      endReason,
    ];
  }
}
