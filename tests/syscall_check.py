"""syscall_check.py - would the unit's seccomp filter and address-family restriction let
`tsl serve` do what it did? Reads the SystemCallFilter= and RestrictAddressFamilies=
lines of a unit file, resolves the filter as systemd does (the first line an allow
list, then "~" lines remove and plain lines add), expanding @groups with
`systemd-analyze syscall-filter`, and compares an `strace -f` log of a server session
with it: every system call made and every socket family opened must be allowed.
Usage: /usr/bin/python3 tests/syscall_check.py UNIT STRACE_LOG.
Closing line "syscalls: N passed, N failed"."""
import re
import subprocess
import sys

unit, log = sys.argv[1], sys.argv[2]
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL " + what, file=sys.stderr)


groups = {}


def expand(item, seen=None):
    """The system calls a name or @group stands for."""
    if not item.startswith("@"):
        return {item}
    if item not in groups:
        out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", item],
                             capture_output=True, text=True, check=True).stdout
        members = [l.strip() for l in out.splitlines()[1:]
                   if l.strip() and not l.strip().startswith("#")]
        groups[item] = members
    calls = set()
    for m in groups[item]:
        calls |= expand(m)
    return calls


allowed = None
families = None
for line in open(unit):
    line = line.strip()
    m = re.match(r"^SystemCallFilter=(~?)(.*)$", line)
    if m:
        names = set()
        for item in m.group(2).split():
            names |= expand(item)
        if allowed is None:
            check(m.group(1) == "", "the first SystemCallFilter= line is an allow list")
            allowed = names
        elif m.group(1) == "~":
            allowed -= names
        else:
            allowed |= names
    m = re.match(r"^RestrictAddressFamilies=(.*)$", line)
    if m:
        families = set(m.group(1).split())
check(allowed is not None and len(allowed) > 100,
      "%s has a SystemCallFilter= allow list" % unit)
check(families is not None, "%s has RestrictAddressFamilies=" % unit)
allowed = allowed or set()
families = families or set()

made = set()
opened = set()
for line in open(log):
    m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)", line)
    if m:
        made.add(m.group(1))
    m = re.match(r"^\d+\s+socket\((AF_[A-Z0-9]+)", line)
    if m:
        opened.add(m.group(1))
check(len(made) > 20, "the trace %s shows the server's system calls (%d)" % (log, len(made)))
for call in sorted(made):
    check(call in allowed, "tsl serve called %s(), which %s's SystemCallFilter refuses"
          % (call, unit))
for fam in sorted(opened):
    check(fam in families, "tsl serve opened an %s socket, which %s's "
          "RestrictAddressFamilies refuses" % (fam, unit))
print("syscalls: %d calls, %d socket families seen" % (len(made), len(opened)))
print("syscalls: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
