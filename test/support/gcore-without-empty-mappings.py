# Run by gdb (`-x`) once it has attached to a process: writes a core file of it with `gcore`,
# leaving out the private anonymous mappings that hold no page (the kernel's own core dumper
# leaves them out too: it writes an anonymous private mapping only once it has been written to).
#
# Why: V8 reserves address space it may never use, e.g. 10 GiB of PROT_NONE for the guard region
# of each WebAssembly memory: on Node 20, pg's Cloudflare check (`new Response(…)` when there is
# no `navigator`) loads undici when pg is required, which compiles llhttp to WebAssembly. gcore writes every
# anonymous mapping whole, reading untouched pages as zeros: an 11 GB file of zeros, 20-35 s.
# A mapping with no resident and no swapped page reads as zeros only, so leaving it out hides
# nothing. gdb leaves out mappings marked MADV_DONTDUMP, so those mappings are marked while the
# process is stopped (madvise called inside it), and their mark is removed again before gdb
# detaches. Mappings the process had marked itself are never touched.
#
# Environment: CORE_DUMP_PATH (the file to write). Prints one line `CORE_DUMP_RESULT {json}`.
import json
import os
import re

import gdb

MADV_DONTDUMP = 16
MADV_DODUMP = 17
HEADER = re.compile(r'^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$')
FIELD = re.compile(r'^(\w+):\s+(\d+) kB')


def read_smaps(pid):
    """[{start, end, perms, name, fields: {Rss: kB, ...}, dd}] from /proc/<pid>/smaps."""
    mappings = []
    with open('/proc/%d/smaps' % pid) as smaps:
        for line in smaps:
            header = HEADER.match(line)
            if header:
                mappings.append({'start': int(header.group(1), 16), 'end': int(header.group(2), 16), 'perms': header.group(3),
                                 'name': header.group(4).strip(), 'fields': {}, 'dd': False})
                continue
            field = FIELD.match(line)
            if field and mappings:
                mappings[-1]['fields'][field.group(1)] = int(field.group(2))
            elif line.startswith('VmFlags:') and mappings:
                mappings[-1]['dd'] = ' dd' in (line.rstrip() + ' ')
    return mappings


def holds_no_page(mapping):
    fields = mapping['fields']
    return (mapping['name'] == '' and mapping['perms'].endswith('p') and not mapping['dd']
            and fields.get('Rss', 1) == 0 and fields.get('Swap', 1) == 0 and fields.get('Anonymous', 1) == 0)


def madvise(start, length, advice):
    """madvise() called inside the stopped process: 0, or -1 when it failed (the mapping is then dumped)."""
    try:
        return int(gdb.parse_and_eval('(int) madvise(%d, %d, %d)' % (start, length, advice)))
    except gdb.error:
        return -1


pid = gdb.selected_inferior().pid
path = os.environ['CORE_DUMP_PATH']
before = read_smaps(pid)
marked = []
failed = 0
try:
    for mapping in before:
        if not holds_no_page(mapping):
            continue
        if madvise(mapping['start'], mapping['end'] - mapping['start'], MADV_DONTDUMP) == 0:
            marked.append(mapping)
        else:
            failed += 1
    gdb.execute('gcore %s' % path, to_string=True)
finally:
    for mapping in marked:
        if madvise(mapping['start'], mapping['end'] - mapping['start'], MADV_DODUMP) != 0:
            failed += 1
after = read_smaps(pid)
dd_before = sorted((m['start'], m['end']) for m in before if m['dd'])
dd_after = sorted((m['start'], m['end']) for m in after if m['dd'])
print('CORE_DUMP_RESULT ' + json.dumps({
    'left_out': [[hex(m['start']), hex(m['end'])] for m in marked],
    'left_out_bytes': sum(m['end'] - m['start'] for m in marked),
    'mark_failed': failed,
    # The process's own MADV_DONTDUMP mappings, unchanged by this script.
    'dont_dump_restored': dd_before == dd_after,
}))
