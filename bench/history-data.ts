/**
 * Scenario 5's data: realistic chat bodies from a small vocabulary (with a
 * rare word now and then, so a search can be selective), and the bulk load of
 * N messages over R rooms straight into mqchat's schema with SQL (rooms and
 * members too; the two users come from its REST API). Grams are computed
 * once per distinct body with the app's own searchGrams.
 */
import pg from 'pg'
import { searchGrams } from '../shared/search/grams.ts'

const COMMON = `the a to and of in is it you that for on are with be this have we at not but can what so if just
about all get do was out up there one time like will your my when lunch meeting today tomorrow deploy release
build test review code merge branch fix bug issue ticket plan team call send file docs link update check please
thanks sure okay yes no maybe later soon now here back home work office coffee train late early morning night
week weekend friday monday report budget client server database query index cache latency error log alert
ready done start stop wait help idea design draft slide demo launch version note list room chat message search
great good bad nice cool fine happy sorry again still only also very much more most some any new old next last
회의 내일 오늘 점심 저녁 배포 확인 부탁 감사 회사 일정 보고서 문서 검색 메시지 커피 출근 퇴근 주말 금요일`.split(/\s+/)

/** Deterministic pseudo-random numbers (mulberry32), so every run loads the same text. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A pool of distinct bodies, the common words, and the rare words that occur in them. */
export interface BodyPool {
  bodies: string[]
  common: string[]
  rare: string[]
}

/** `size` bodies of 3-12 words; one in ten also carries a rare 7-letter word. */
export function bodyPool(size: number): BodyPool {
  const rnd = prng(9)
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!
  const rareSet = new Set<string>()
  const bodies: string[] = []
  for (let i = 0; i < size; i++) {
    const words = Array.from({ length: 3 + Math.floor(rnd() * 10) }, () => pick(COMMON))
    if (rnd() < 0.1) {
      const rare = Array.from({ length: 7 }, () => String.fromCharCode(97 + Math.floor(rnd() * 26))).join('')
      rareSet.add(rare)
      words.splice(Math.floor(rnd() * words.length), 0, rare)
    }
    const text = words.join(' ')
    bodies.push(text[0]!.toUpperCase() + text.slice(1) + pick(['', '.', '?', '!', ' :)']))
  }
  return { bodies, common: COMMON, rare: [...rareSet] }
}

/** What the load made. */
export interface LoadedHistory {
  roomIds: string[]
  perRoom: number
  loadMs: number
  /** Of which: the INSERTs, the index builds, VACUUM and ANALYZE. */
  insertMs: number
  indexMs: number
  analyzeMs: number
}

/** Inserts the messages of rooms k in [from, to) (the bench's own tables hist_rooms and hist_bodies name them and their bodies). */
async function insertRooms(databaseUrl: string, schema: string, args: { reader: string; partner: string; perRoom: number; rooms: number; poolSize: number }, ranges: Array<[number, number]>, progress: (rows: number) => void): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query(`SET search_path TO "${schema}"`)
    for (const [from, to] of ranges) {
      await client.query(`INSERT INTO messages (room_id, seq, sender_id, client_msg_id, body, search_grams, created_at)
        SELECT r.id, g.n, CASE WHEN g.n % 2 = 0 THEN $1 ELSE $2 END, 'h' || g.n, b.body, b.grams,
          now() - interval '1 day' + ((g.n - 1) * $4 + r.k) * interval '1 millisecond'
        FROM hist_rooms r CROSS JOIN generate_series(1, $3::int) AS g(n)
        JOIN hist_bodies b ON b.i = (g.n * 7919 + r.k * 104729) % $5
        WHERE r.k >= $6 AND r.k < $7`, [args.reader, args.partner, args.perRoom, args.rooms, args.poolSize, from, to])
      progress((to - from) * args.perRoom)
    }
  } finally {
    await client.end().catch(() => {})
  }
}

async function messageIndexes(client: pg.Client, schema: string): Promise<Array<{ name: string; def: string }>> {
  const res = await client.query<{ indexname: string; indexdef: string }>(
    `SELECT i.indexname, i.indexdef FROM pg_indexes i
     WHERE i.schemaname = $1 AND i.tablename = 'messages'
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)`, [schema])
  return res.rows.map((r) => ({ name: r.indexname, def: r.indexdef }))
}

/**
 * Inserts `rooms` group rooms (owner `reader`, member `partner`) with `messages`
 * messages in all, their senders alternating, times one millisecond apart
 * across rooms. The messages' secondary indexes (the GIN on search_grams...)
 * are dropped for the load and built again after it; VACUUM (ANALYZE) of
 * messages at the end.
 */
export async function loadHistory(databaseUrl: string, schema: string, reader: string, partner: string, rooms: number, messages: number, pool: BodyPool, log: (l: string) => void): Promise<LoadedHistory> {
  const started = performance.now()
  const perRoom = Math.floor(messages / rooms)
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query(`SET search_path TO "${schema}"`)
    await client.query(`SET maintenance_work_mem = '1GB'`) // the GIN build is much faster with room to sort
    const roomIds = Array.from({ length: rooms }, (_, k) => `h${String(k).padStart(5, '0')}${Math.random().toString(36).slice(2, 8).padEnd(6, '0')}`)
    // Plain tables, not temporary: the load runs on two connections. Dropped after it (and with the schema).
    await client.query('CREATE TABLE hist_rooms (k int PRIMARY KEY, id text NOT NULL)')
    await client.query('INSERT INTO hist_rooms SELECT (o - 1)::int, id FROM unnest($1::text[]) WITH ORDINALITY AS u(id, o)', [roomIds])
    await client.query(`INSERT INTO rooms (id, type, name, created_by, last_seq, last_message_at)
      SELECT id, 'group', 'history ' || k, $1, $2, now() FROM hist_rooms`, [reader, perRoom])
    await client.query(`INSERT INTO room_members (room_id, user_id, role)
      SELECT id, $1, 'owner' FROM hist_rooms UNION ALL SELECT id, $2, 'member' FROM hist_rooms`, [reader, partner])
    await client.query('CREATE TABLE hist_bodies (i int PRIMARY KEY, body text NOT NULL, grams text[] NOT NULL)')
    await client.query(`INSERT INTO hist_bodies SELECT (o - 1)::int, b, string_to_array(g, ' ') FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(b, g, o)`,
      [pool.bodies, pool.bodies.map((b) => searchGrams(b).join(' '))])
    const indexes = await messageIndexes(client, schema)
    for (const ix of indexes) await client.query(`DROP INDEX "${schema}"."${ix.name}"`)
    // Chunks of about 50,000 rows, dealt out to two connections (two cores).
    const chunk = Math.max(1, Math.floor(50_000 / Math.max(1, perRoom)))
    const ranges: Array<Array<[number, number]>> = [[], []]
    for (let from = 0, n = 0; from < rooms; from += chunk, n++) ranges[n % 2]!.push([from, Math.min(rooms, from + chunk)])
    let inserted = 0
    const insertStarted = performance.now()
    const args = { reader, partner, perRoom, rooms, poolSize: pool.bodies.length }
    await Promise.all(ranges.map((r) => insertRooms(databaseUrl, schema, args, r, (rows) => {
      inserted += rows
      log(`  history: ${inserted} messages inserted, ${((performance.now() - started) / 1000).toFixed(1)} s`)
    })))
    // As the commit function leaves it: each room's last_message_at is its newest message's created_at.
    await client.query(`UPDATE rooms SET last_message_at = newest.at
      FROM (SELECT m.room_id, max(m.created_at) AS at FROM messages m JOIN hist_rooms r ON r.id = m.room_id GROUP BY m.room_id) newest
      WHERE rooms.id = newest.room_id`)
    const indexStarted = performance.now()
    for (const ix of indexes) {
      await client.query(ix.def)
      log(`  history: index ${ix.name} built, ${((performance.now() - started) / 1000).toFixed(1)} s`)
    }
    const analyzeStarted = performance.now()
    await client.query('DROP TABLE hist_rooms, hist_bodies')
    // As autovacuum leaves history this old on a server where it runs (on this machine's it is off).
    await client.query('VACUUM (ANALYZE) messages')
    await client.query('ANALYZE rooms')
    await client.query('ANALYZE room_members')
    const now = performance.now()
    return { roomIds, perRoom, loadMs: now - started, insertMs: indexStarted - insertStarted, indexMs: analyzeStarted - indexStarted, analyzeMs: now - analyzeStarted }
  } finally {
    await client.end().catch(() => {})
  }
}
