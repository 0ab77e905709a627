import assert from 'node:assert/strict'
import { test } from 'node:test'
import { anyWindowOpen, cronMatches, nextOpening, openWindowAt, parseCron } from './cron-window.js'

test('parses fields, ranges, steps, lists and names; 7 is Sunday', () => {
  const c = parseCron('*/15 22-23 1,15 JAN-MAR MON-FRI')
  assert.deepEqual([...c.minute], [0, 15, 30, 45])
  assert.deepEqual([...c.hour], [22, 23])
  assert.deepEqual([...c.dom], [1, 15])
  assert.deepEqual([...c.month], [1, 2, 3])
  assert.deepEqual([...c.dow], [1, 2, 3, 4, 5])
  assert.deepEqual([...parseCron('0 0 * * 7').dow], [0])
})

test('refuses bad expressions, saying which field', () => {
  assert.throws(() => parseCron('0 0 * *'), /has 4 fields/)
  assert.throws(() => parseCron('61 0 * * *'), /minute: 61 is outside 0-59/)
  assert.throws(() => parseCron('0 5-1 * * *'), /hour: range 5-1 runs backwards/)
  assert.throws(() => parseCron('0 0 * * FUNDAY'), /day-of-week/)
})

test('matches in the given time zone, across daylight saving time', () => {
  const c = parseCron('0 22 * * *')
  // 22:00 in Paris is 21:00 UTC in winter (CET) and 20:00 UTC in summer (CEST).
  assert.ok(cronMatches(c, Date.parse('2026-01-15T21:00:00Z'), 'Europe/Paris'))
  assert.ok(!cronMatches(c, Date.parse('2026-01-15T22:00:00Z'), 'Europe/Paris'))
  assert.ok(cronMatches(c, Date.parse('2026-07-15T20:00:00Z'), 'Europe/Paris'))
  assert.ok(cronMatches(c, Date.parse('2026-07-15T22:00:00Z'), 'UTC'))
})

test('day-of-month and day-of-week both restricted: either matches (cron(5))', () => {
  const c = parseCron('0 0 13 * FRI')
  assert.ok(cronMatches(c, Date.parse('2026-03-13T00:00:00Z'))) // the 13th
  assert.ok(cronMatches(c, Date.parse('2026-03-06T00:00:00Z'))) // a Friday
  assert.ok(!cronMatches(c, Date.parse('2026-03-07T00:00:00Z')))
})

test('a window is open from its cron match for its duration, minus the cutoff for new hosts', () => {
  const w = { cron: '0 22 * * *', timeZone: 'UTC', durationMinutes: 120, cutoffMinutes: 30 }
  assert.equal(openWindowAt(w, new Date('2026-05-01T21:59:00Z')), undefined)
  const open = openWindowAt(w, new Date('2026-05-01T22:10:00Z'))
  assert.equal(open?.opensAt.toISOString(), '2026-05-01T22:00:00.000Z')
  assert.equal(open?.cutoffAt.toISOString(), '2026-05-01T23:30:00.000Z')
  assert.equal(open?.closesAt.toISOString(), '2026-05-02T00:00:00.000Z')
  assert.ok(openWindowAt(w, new Date('2026-05-01T23:29:59Z')))
  assert.equal(openWindowAt(w, new Date('2026-05-01T23:30:00Z')), undefined, 'inside the cutoff')
  // spans midnight
  const late = { cron: '0 23 * * *', durationMinutes: 120 }
  assert.ok(openWindowAt(late, new Date('2026-05-02T00:30:00Z')))
})

test('next opening: soon, far, and never within the horizon', () => {
  const w = { cron: '30 2 * * SUN', timeZone: 'America/New_York', durationMinutes: 60 }
  const n = nextOpening(w, new Date('2026-05-06T12:00:00Z')) // a Wednesday
  assert.equal(n?.toISOString(), '2026-05-10T06:30:00.000Z') // Sunday 02:30 EDT
  assert.equal(
    nextOpening({ cron: '0 0 30 2 *', durationMinutes: 60 }, new Date('2026-01-01T00:00:00Z')),
    undefined,
  )
  const leap = nextOpening(
    { cron: '0 0 29 2 *', durationMinutes: 60 },
    new Date('2026-01-01T00:00:00Z'),
    366 * 3,
  )
  assert.equal(leap?.toISOString(), '2028-02-29T00:00:00.000Z')
})

test('no windows means always open', () => {
  assert.ok(anyWindowOpen([], new Date()))
})
