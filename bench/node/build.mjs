// The Node peer of calfeed's feed build: all.ics written with ical-generator, as its users do.
//
//     node bench/node/build.mjs CONFIG OUT
//
// Reads config.yaml and every event file under feeds/ with js-yaml, builds one event per
// event (wall times in the event's zone through Luxon, the agenda in the description, all-day
// events as dates), lets @touch4it/ical-timezones write a VTIMEZONE for every zone used, and
// writes the calendar to OUT.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { getVtimezoneComponent } from '@touch4it/ical-timezones';
import ical from 'ical-generator';
import yaml from 'js-yaml';
import { DateTime } from 'luxon';

function files(folder) {
    return readdirSync(folder, { recursive: true })
        .filter((name) => name.endsWith('.yaml'))
        .sort()
        .map((name) => join(folder, name));
}

function agenda(item) {
    return (item.sessions ?? []).map((session) => {
        const line = `${session.start}–${session.end} ${session.title}`;
        const speakers = (session.speakers ?? []).join(', ');
        return speakers ? `${line} (${speakers})` : line;
    });
}

function add(calendar, item, site, now) {
    const zone = item.timezone ?? site.timezone;
    const allDay = !item.start.includes('T');
    const start = DateTime.fromISO(item.start, { zone });
    let end = DateTime.fromISO(item.end, { zone });
    if (allDay) end = end.plus({ days: 1 }); // the YAML names the last day
    const description = [item.description ?? '', agenda(item).join('\n')].filter(Boolean);
    calendar.createEvent({
        id: `${item.id}@${new URL(site.base_url).host}`,
        stamp: now,
        sequence: 0,
        summary: item.title,
        start,
        end,
        allDay,
        timezone: allDay ? null : zone,
        location: item.location ?? null,
        url: `${site.base_url}/events/${item.id}`,
        description: description.join('\n\n'),
        categories: item.topics.map((name) => ({ name })),
    });
}

const [configPath, out] = process.argv.slice(2);
const config = yaml.load(readFileSync(configPath, 'utf8'));
const site = config.site;
const calendar = ical({
    name: site.title,
    prodId: { company: 'Bench', product: 'ical-generator build' },
    method: 'PUBLISH',
    timezone: { name: site.timezone, generator: getVtimezoneComponent },
});
const now = DateTime.utc();
for (const path of files(join(dirname(configPath), config.feeds_dir ?? 'feeds'))) {
    const document = yaml.load(readFileSync(path, 'utf8'));
    for (const item of document.events ?? [document]) add(calendar, item, site, now);
}
writeFileSync(out, calendar.toString());
