import t from 'tap'
import { normalizeText, queryGrams, searchGrams, wordsOf } from '../../shared/search/grams.ts'

/** What the index step decides: the body holds every gram the query needs. */
const candidate = (body: string, query: string) => {
  const grams = new Set(searchGrams(body))
  return queryGrams(query).every((g) => grams.has(g))
}

t.test('normalizeText folds case and compatibility forms', async (t) => {
  t.equal(normalizeText('DePloY'), 'deploy', 'lower case')
  t.equal(normalizeText('ＤＥＰＬＯＹ １２３'), 'deploy 123', 'full-width letters and digits')
  t.equal(normalizeText('ｶﾀｶﾅ'), 'カタカナ', 'half-width katakana')
  t.equal(normalizeText('\u1112\u116c\u110b\u1174'), '회의', 'conjoining jamo (as some keyboards send Hangul) compose to syllables')
  t.equal(normalizeText('cafe\u0301'), 'café', 'a combining accent composes')
})

t.test('wordsOf splits on everything but letters, marks and digits', async (t) => {
  t.same(wordsOf('Hello, world! 42'), ['hello', 'world', '42'])
  t.same(wordsOf('내일 회의를...합시다?'), ['내일', '회의를', '합시다'])
  t.same(wordsOf('deploy-script_v2'), ['deploy', 'script', 'v2'], 'hyphen and underscore separate words')
  t.same(wordsOf('  ?!  🙂 '), [], 'punctuation and emoji hold no word')
})

t.test('searchGrams: bigrams of each word, and the unigrams a one-character query needs, without repeats', async (t) => {
  t.same(searchGrams('회의를'), ['회', '회의', '의', '의를', '를'], 'every character outside ASCII letters and digits')
  t.same(searchGrams('Go go GO'), ['go'], 'repeated words count once; no unigrams inside Latin words')
  t.same(searchGrams('aaa'), ['aa'], 'repeated grams within a word count once')
  t.same(searchGrams('ab cd'), ['ab', 'cd'], 'no bigram spans two words')
  t.same(searchGrams('a 5 b2'), ['a', '5', 'b2'], 'a one-character word is its own unigram')
  t.same(searchGrams('café'), ['ca', 'af', 'fé', 'é'], 'non-ASCII letters keep their unigrams')
  t.same(searchGrams('!!!'), [], 'nothing to index')
})

t.test('queryGrams: the bigrams of each word, or a one-character word itself', async (t) => {
  t.same(queryGrams('회의'), ['회의'])
  t.same(queryGrams('밥'), ['밥'], 'one syllable')
  t.same(queryGrams('Deploy'), ['de', 'ep', 'pl', 'lo', 'oy'])
  t.same(queryGrams('회의 밥 회의'), ['회의', '밥'], 'repeated words count once')
  t.same(queryGrams('abab'), ['ab', 'ba'], 'repeated bigrams count once')
  t.same(queryGrams('...'), [], 'no word, no grams')
})

t.test('Korean: a word is a candidate inside its forms with particles', async (t) => {
  t.ok(candidate('내일 회의를 합시다', '회의'), '회의 in 회의를')
  t.ok(candidate('회의에서 봐요', '회의'), '회의 in 회의에서')
  t.ok(candidate('점심 밥을 먹었어요', '밥'), '밥 in 밥을')
  t.ok(candidate('내일 회의를 합시다', '회의 내일'), 'both words present')
  t.notOk(candidate('회의에서 봐요', '회의 내일'), 'a missing word rules it out')
  t.notOk(candidate('오늘 미팅', '회의'), 'unrelated text')
  t.ok(candidate('\u1112\u116c\u110b\u1174\u1105\u1173\u11af', '회의'), 'decomposed Hangul in the body matches a composed query')
})

t.test('English: substrings, any case, full width', async (t) => {
  t.ok(candidate('Deployment finished', 'deploy'), 'deploy in Deployment')
  t.ok(candidate('we DEPLOY today', 'Deploy'), 'any case')
  t.ok(candidate('ＦＵＬＬ ｗｉｄｔｈ', 'full width'), 'full-width body')
  t.ok(candidate('full width', 'ｆｕｌｌ'), 'full-width query')
  t.notOk(candidate('deploy', 'deployment'), 'a query longer than the word')
  t.ok(candidate('점심 밥을 먹었어요', '밥'), 'one Hangul syllable inside a word')
  t.ok(candidate('a room for 5', '5') && candidate('plan a trip', 'A'), 'a one-character Latin word or digit as a word')
  t.notOk(candidate('hello', 'e'), 'but not a Latin letter inside a longer word')
})

t.test('grams alone over-match: the store must still check the substring', async (t) => {
  // Every bigram of the query is present, but never in one run; the SQL substring test removes this row.
  t.ok(candidate('plan a low hot day', 'plot'), 'pl, lo, ot all appear apart')
  t.ok(candidate('학교 교실', '학교실'), '학교 and 교실 appear apart')
})

// ASCII bodies take a path of their own; a non-ASCII word after them sends the same text down the general
// path, whose grams must then be the same ones in the same order, followed by that word's.
t.test('searchGrams: the ASCII path and the general path agree', async (t) => {
  const alphabet = 'abcXYZ019 -_.,!?"\'\\\t\n@#{}'
  let seed = 7
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
  const bodies = ['', 'a', 'A b', 'Deployment at 10:30, OK?', 'x'.repeat(40), 'a1 1a A1 a-1', '\u007f~ab']
  for (let i = 0; i < 500; i++) bodies.push(Array.from({ length: Math.floor(random() * 40) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''))
  const disagree = bodies.filter((body) => JSON.stringify(searchGrams(body)) !== JSON.stringify(searchGrams(`${body} é`).filter((g) => g !== 'é')))
  t.same(disagree, [], `${bodies.length} ASCII bodies, every one the same both ways`)
  t.same(searchGrams('Hello, World 42 x'), ['he', 'el', 'll', 'lo', 'wo', 'or', 'rl', 'ld', '42', 'x'], 'an example, in order')
})
