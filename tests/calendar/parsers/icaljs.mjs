// Read .ics files with Mozilla's ical.js (the parser of Thunderbird's calendar).
//
// Usage: node icaljs.mjs FILE...
// Prints, for each file in order, one line of JSON:
// {"<uid>": ["<start>", "<end>", {"summary": ..., "description": ..., "location": ...,
// "categories": [...], "conferences": [<uri>...], "alarms": [[<action>, <seconds>]...],
// "sequence": <SEQUENCE or null>}], ...},
// each text as ical.js unescapes it, each alarm's TRIGGER in seconds from the start.
// A timed value is written as its UTC instant (2026-10-25T00:30:00Z), resolved through the
// VTIMEZONE that the file itself carries; a DATE value as 2026-11-30. Exits 3 when ical.js
// is not installed (npm ci --prefix tests/calendar/js), 1 when a file cannot be read.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const library = join(here, '..', 'js', 'node_modules', 'ical.js', 'dist', 'ical.js');
if (!existsSync(library)) {
  console.error('ical.js is not installed: run npm ci --prefix tests/calendar/js');
  process.exit(3);
}
const { default: ICAL } = await import(pathToFileURL(library).href);

function instant(vevent, name) {
  const property = vevent.getFirstProperty(name);
  if (!property) {
    return null;
  }
  const time = property.getFirstValue();
  if (time.isDate) {
    return time.toString();
  }
  const tzid = property.getParameter('tzid');
  if (tzid) {
    // A TZID the service does not know leaves the time floating: refuse, never guess.
    if (!time.zone || time.zone.tzid !== tzid) {
      throw new Error(`${name};TZID=${tzid} has no VTIMEZONE in the file`);
    }
  } else if (time.zone !== ICAL.Timezone.utcTimezone) {
    throw new Error(`${name}:${time} is a floating time`);
  }
  return new Date(time.toUnixTime() * 1000).toISOString().replace('.000Z', 'Z');
}

function read(path) {
  // Each file is read on its own: only its own VTIMEZONEs may resolve its TZIDs.
  ICAL.TimezoneService.reset();
  const calendar = new ICAL.Component(ICAL.parse(readFileSync(path, 'utf8')));
  for (const vtimezone of calendar.getAllSubcomponents('vtimezone')) {
    ICAL.TimezoneService.register(new ICAL.Timezone(vtimezone));
  }
  const found = {};
  for (const vevent of calendar.getAllSubcomponents('vevent')) {
    const uid = vevent.getFirstPropertyValue('uid');
    if (uid in found) {
      throw new Error(`UID ${uid} appears twice`);
    }
    const texts = {};
    for (const name of ['summary', 'description', 'location']) {
      const value = vevent.getFirstPropertyValue(name);
      if (value !== null) {
        texts[name] = value;
      }
    }
    texts.categories = vevent.getAllProperties('categories').flatMap((p) => p.getValues());
    texts.conferences = vevent.getAllProperties('conference').map((p) => p.getFirstValue());
    texts.alarms = vevent.getAllSubcomponents('valarm').map((alarm) => [
      alarm.getFirstPropertyValue('action'),
      alarm.getFirstPropertyValue('trigger').toSeconds(),
    ]);
    texts.sequence = vevent.getFirstPropertyValue('sequence');
    found[uid] = [instant(vevent, 'dtstart'), instant(vevent, 'dtend'), texts];
  }
  return found;
}

for (const path of process.argv.slice(2)) {
  try {
    console.log(JSON.stringify(read(path)));
  } catch (error) {
    console.error(`${path}: ${error.message}`);
    process.exit(1);
  }
}
