#!/usr/bin/env python3
"""Figures from the console logs of qemu/bench.sh (standard library only).

  report.py line LOG [NIC]            one progress line for one boot
  report.py table LOGDIR CSV SVG TITLE [NIC]
      the table (median, min, max per image and milestone), the memory figures, every
      boot as a CSV row, and an SVG timeline of the median boot of each image; TITLE
      names the baseline (the busybox image)
NIC is the card the guests had (boot.py's): e1000 (the default), virtio, or microvm
(virtio-net on qemu's microvm machine, virtio-mmio).

Logs are LOGDIR/IMAGE-RUN.log. Every figure is guest uptime in seconds: qinit's lines and
the BENCH lines (/proc/uptime) are CLOCK_BOOTTIME, the kernel's lines (unpack, /init, eth0
probed, carrier) its printk clock. Under TCG the two drift apart by up to about 50 ms
(qinit's "carrier up" against the kernel's "Link is Up"), so a difference across the two
(pid1 - init, lease - carrier) carries that error; one clock's figures compare exactly.
virtio_net logs neither its probe nor its link: with NIC=virtio "eth0 probed" stays empty,
and carrier is qinit's "eth0: carrier up" (CLOCK_BOOTTIME), the baseline's its BENCH line
(BASELINE=tuned only).
"""

import csv
import glob
import os
import re
import statistics
import sys
from xml.sax.saxutils import escape

IMAGES = ["qinit", "busybox"]
KERNEL_LINE = re.compile(r"\[\s*(\d+\.\d+)\] (.*)")
BENCH_LINE = re.compile(r"BENCH (pid1|carrier|lease|shell|cmd) (\d+\.\d+)")
MEM_LINE = re.compile(r"BENCH mem VmHWM:\s+(\d+) kB VmRSS:\s+(\d+) kB Rss:\s+(\d+) kB "
                      r"Pss:\s+(\d+) kB MemAvailable:\s+(\d+) kB")
HOST_LINE = re.compile(r"BENCH host (\d+\.\d+) s")
LOAD_LINE = re.compile(r"BENCH host load (\d+\.\d+)")
STEP = re.compile(r"qinit: (.+?): done in (\d+\.\d+) ms")
SENT = re.compile(r"qinit: dhcp eth0: bound .*\(first request sent (\d+\.\d+) ms after it\)")
# The cards (NIC=): their name in titles, and their kernel lines for the "nic" (eth0
# probed) and "carrier" milestones, None where the driver logs none. virtio_net logs
# neither (virtio_pci nothing either): its carrier is qinit's line.
NICS = {
    "e1000": ("e1000",
              re.compile(r"^e1000 \S+ eth0: Intel\(R\) PRO/1000 Network Connection"),
              re.compile(r"^e1000: eth0 NIC Link is Up")),
    "virtio": ("virtio-net", None, re.compile(r"^qinit: eth0: carrier up")),
    "microvm": ("virtio-net on microvm", None, re.compile(r"^qinit: eth0: carrier up")),
}


def logged(nic):
    """Milestones from kernel and qinit lines: (key, pattern). The first match wins."""
    _, probed, carrier = NICS[nic]
    return [(key, pattern) for key, pattern in [
        ("unpack", re.compile(r"^Trying to unpack rootfs image as initramfs")),
        ("unpacked", re.compile(r"^Freeing initrd memory")),
        ("init", re.compile(r"^Run /\S+ as init process")),
        ("pid1", re.compile(r"^qinit: qinit \S+ started as PID 1")),
        ("nic", probed),
        ("carrier", carrier),
        ("lease", re.compile(r"^qinit: dhcp eth0: bound ")),
        ("spawn", re.compile(r"^qinit: starting /bin/sh on ")),
    ] if pattern is not None]


MILESTONES = [  # (key, title) in boot order, for the table; {nic}: the card's name
    ("init", "kernel runs /init"),
    ("pid1", "PID 1 started"),
    ("nic", "eth0 probed ({nic})"),
    ("carrier", "carrier up"),
    ("lease", "lease bound"),
    ("spawn", "shell spawned (qinit log)"),
    ("shell", "shell started (profile)"),
    ("cmd", "first command ran"),
]
DERIVED = [  # (key, title, from, to): durations
    ("unpack_s", "  initramfs unpack", "unpack", "unpacked"),
    ("dhcp_s", "  lease - carrier", "carrier", "lease"),
    ("shell_s", "  cmd - lease", "lease", "cmd"),
]
MEMORY = [("vmhwm_kb", "PID 1 VmHWM"), ("vmrss_kb", "PID 1 VmRSS"), ("rss_kb", "PID 1 Rss (smaps)"),
          ("pss_kb", "PID 1 Pss (smaps)"), ("memavail_kb", "MemAvailable")]
FIELDS = (["image", "run", "ok", "unpack", "unpacked"] + [k for k, _ in MILESTONES]
          + [k for k, *_ in DERIVED] + ["sent_ms"] + [k for k, _ in MEMORY]
          + ["host_s", "host_load"])


def parse(path, nic="e1000"):
    """One boot's figures, and qinit's steps as (name, start, end)."""
    patterns = logged(nic)
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    name = os.path.basename(path)[:-len(".log")]
    image, run = name.rsplit("-", 1)
    row = {"image": image, "run": int(run), "ok": int("BENCH failed" not in text)}
    steps = []
    for line in text.replace("\r", "\n").split("\n"):
        m = KERNEL_LINE.search(line)
        if m:
            t, msg = float(m.group(1)), m.group(2)
            for key, pattern in patterns:
                if key not in row and pattern.search(msg):
                    row[key] = t
            s = STEP.search(msg)
            if s:
                steps.append((s.group(1), t - float(s.group(2)) / 1000, t))
        for key, t in BENCH_LINE.findall(line):
            row.setdefault(key, float(t))
        m = MEM_LINE.search(line)
        if m:
            for (key, _), v in zip(MEMORY, m.groups()):
                row[key] = int(v)
        m = SENT.search(line)
        if m:
            row.setdefault("sent_ms", float(m.group(1)))
        m = HOST_LINE.search(line)
        if m:
            row["host_s"] = float(m.group(1))
        m = LOAD_LINE.search(line)
        if m:
            row["host_load"] = float(m.group(1))
    for key, _, start, end in DERIVED:
        if row.get(start) is not None and row.get(end) is not None:
            row[key] = row[end] - row[start]
    return row, steps


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def line(path, nic="e1000"):
    row, _ = parse(path, nic)
    parts = [f"{k} {fmt(row.get(k))}" for k in ("init", "pid1", "carrier", "lease", "shell", "cmd")]
    status = "" if row["ok"] else "  FAILED (see log)"
    print(f"bench:   {row['image']} #{row['run']}: " + ", ".join(parts)
          + f"  [host {fmt(row.get('host_s'), 1)} s]{status}")


def stats(rows, key):
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def print_table(rows_by_image, n_runs, baseline, nic="e1000"):
    q, b = IMAGES
    name = NICS[nic][0]
    print(f"\nGuest uptime in seconds at each milestone, {n_runs} boot(s) of each image "
          f"(TCG, -m 256M, {name} on qemu's user network, append \"console=ttyS0\""
          + (" tsc_early_khz=<host's>" if nic == "microvm" else "") + ")\n")
    head = f"{'':27} {'qinit':>22}   {baseline[:22]:>22}   {'qinit/':>7} {'qinit -':>8}"
    print(head)
    print(f"{'':27} {'median':>8}{'min':>7}{'max':>7}   {'median':>8}{'min':>7}{'max':>7}"
          f"   {'busybox':>7} {'busybox':>8}")
    for key, title in MILESTONES + [(k, t) for k, t, *_ in DERIVED]:
        cells, medians = [], []
        for image in IMAGES:
            s = stats(rows_by_image[image], key)
            if s is None:
                cells.append(f"{'-':>8}{'':7}{'':7}")
                medians.append(None)
            else:
                cells.append(f"{s[0]:8.2f}{s[1]:7.2f}{s[2]:7.2f}")
                medians.append(s[0])
        ratio = diff = ""
        if None not in medians and medians[1] > 0:
            ratio = f"{medians[0] / medians[1]:.2f}"
            diff = f"{(medians[0] - medians[1]) * 1000:+.0f} ms"
        print(f"{title.format(nic=name):27} {cells[0]}   {cells[1]}   {ratio:>7} {diff:>8}")
    sent = stats(rows_by_image[q], "sent_ms")
    if sent:
        print(f"\nqinit's first DHCP request left {sent[0]:.1f} ms after the carrier "
              f"(median; {sent[1]:.1f}-{sent[2]:.1f}; qinit's log)")
    loads = [r["host_load"] for rows in rows_by_image.values() for r in rows if "host_load" in r]
    if loads:
        print(f"\nhost load average at boot start: {min(loads):.2f} to {max(loads):.2f}")
    print("\nMemory after boot, kB (median, min-max)\n")
    for key, title in MEMORY:
        cells = []
        for image in IMAGES:
            s = stats(rows_by_image[image], key)
            cells.append("-" if s is None else f"{s[0]:.0f} ({s[1]:.0f}-{s[2]:.0f})")
        print(f"{title:27} {q} {cells[0]:>24}   {b} {cells[1]:>24}")


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in FIELDS})


# Timeline segments: (from, to, title, colour); the same for both lanes. {nic}: the card's
# name. A milestone a boot lacks (virtio_net's probe, say) joins its two segments into one.
SEGMENTS = [
    (None, "init", "kernel", "#b0b0b0"),
    ("init", "pid1", "exec /init", "#7f7f7f"),
    ("pid1", "nic", "mounts, {nic} load", "#4e79a7"),
    ("nic", "carrier", "wait for carrier", "#f2c14e"),
    ("carrier", "lease", "DHCP", "#e15759"),
    ("lease", "shell", "to the shell", "#59a14f"),
    ("shell", "cmd", "first command", "#b07aa1"),
]
STEP_COLOURS = ["#9ecae9", "#6baed6", "#4292c6", "#2171b5"]


def median_boot(rows):
    ok = [r for r in rows if r.get("cmd") is not None]
    if not ok:
        return None
    med = statistics.median(r["cmd"] for r in ok)
    return min(ok, key=lambda r: abs(r["cmd"] - med))


def write_svg(path, chosen, steps_by_image, baseline, nic="e1000"):
    segments = [(a, b, title.format(nic=NICS[nic][0]), colour) for a, b, title, colour in SEGMENTS]
    width, left, right = 960, 130, 30
    lane_h, bar_h, top = 80, 26, 70
    t_max = max(r["cmd"] for r in chosen.values()) + 0.9  # room for the "command" label
    scale = (width - left - right) / t_max
    x = lambda t: left + max(t, 0.0) * scale
    runs = ", ".join(f"{image} run {row['run']}" for image, row in chosen.items())
    height = top + lane_h * len(chosen) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="24" font-size="15" font-weight="bold">Boot timeline under qemu TCG: '
        f'qinit vs {escape(baseline)}</text>',
        f'<text x="{left}" y="42" fill="#555">guest uptime in seconds; of each image the boot '
        f'with the median "first command" ({escape(runs)})</text>',
    ]
    axis_y = top + lane_h * len(chosen) - 30
    for s in range(int(t_max) + 1):
        out.append(f'<line x1="{x(s):.1f}" y1="{top - 6}" x2="{x(s):.1f}" y2="{axis_y}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{x(s):.1f}" y="{axis_y + 16}" text-anchor="middle">{s}</text>')
    out.append(f'<text x="{left + (width - left - right) / 2:.1f}" y="{axis_y + 32}" text-anchor="middle" '
               f'fill="#555">seconds since the kernel started</text>')
    for lane, (image, row) in enumerate(chosen.items()):
        y = top + lane * lane_h
        label = "qinit" if image == "qinit" else "busybox"
        out.append(f'<text x="{left - 10}" y="{y + bar_h / 2 + 4}" text-anchor="end" '
                   f'font-weight="bold">{label}</text>')
        carried = None  # (start, titles, colour) of segments whose end this boot lacks
        for start_key, end_key, title, colour in segments:
            start = 0.0 if start_key is None else row.get(start_key)
            end = row.get(end_key)
            if carried is not None:
                start, title, colour = carried[0], f"{carried[1]} + {title}", carried[2]
                carried = None
            if end is None and start is not None and end_key != "cmd":
                carried = (start, title, colour)
                continue
            if start is None or end is None or end <= start:
                continue
            w = (end - start) * scale
            out.append(f'<rect x="{x(start):.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                       f'fill="{colour}"><title>{escape(title)}: {start:.3f} to {end:.3f} s'
                       f'</title></rect>')
            text = f"{title} {end - start:.2f} s"
            if w > 7 * len(text):
                out.append(f'<text x="{x(start) + w / 2:.1f}" y="{y + bar_h / 2 + 4}" '
                           f'text-anchor="middle">{escape(text)}</text>')
        out.append(f'<text x="{x(row["cmd"]) + 5:.1f}" y="{y + bar_h / 2 + 4}">'
                   f'command {row["cmd"]:.2f}</text>')
        if row.get("lease") is not None:
            lx = x(row["lease"])
            out.append(f'<line x1="{lx:.1f}" y1="{y - 5}" x2="{lx:.1f}" y2="{y + bar_h}" '
                       f'stroke="black"/>')
            out.append(f'<text x="{lx:.1f}" y="{y - 8}" text-anchor="middle" font-size="11">'
                       f'lease {row["lease"]:.2f}</text>')
        sub_y = y + bar_h + 6
        small = []
        if steps_by_image.get(image):
            out.append(f'<text x="{left - 10}" y="{sub_y + 11}" text-anchor="end" fill="#555" '
                       f'font-size="11">its steps</text>')
        for i, (name, start, end) in enumerate(steps_by_image.get(image, [])):
            w = max((end - start) * scale, 1.0)
            out.append(f'<rect x="{x(start):.1f}" y="{sub_y}" width="{w:.1f}" height="14" '
                       f'fill="{STEP_COLOURS[i % len(STEP_COLOURS)]}"><title>qinit step '
                       f'{escape(name)}: {(end - start) * 1000:.1f} ms, ends at {end:.3f} s'
                       f'</title></rect>')
            text = f"{name} {(end - start) * 1000:.0f} ms"
            if w <= 6.3 * len(text):  # too narrow: the name only, or a note below
                small.append(f"{name} {(end - start) * 1000:.1f}")
                text = name
            if w > 6.3 * len(text):
                out.append(f'<text x="{x(start) + w / 2:.1f}" y="{sub_y + 11}" '
                           f'text-anchor="middle" font-size="11" fill="white">{escape(text)}</text>')
        if small:
            out.append(f'<text x="{left}" y="{sub_y + 30}" font-size="11" fill="#555">'
                       f'steps, ms: {escape(", ".join(small))}</text>')
    legend_y = axis_y + 48
    lx = left
    for _, _, title, colour in segments:
        out.append(f'<rect x="{lx}" y="{legend_y}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{lx + 16}" y="{legend_y + 10}">{escape(title)}</text>')
        lx += 28 + 7 * len(title)
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def table(logdir, csv_path, svg_path, baseline, nic="e1000"):
    rows_by_image, steps = {i: [] for i in IMAGES}, {}
    all_rows = []
    for path in sorted(glob.glob(os.path.join(logdir, "*-*.log"))):
        row, s = parse(path, nic)
        if row["image"] not in rows_by_image:
            continue
        rows_by_image[row["image"]].append(row)
        all_rows.append(row)
        steps[path] = s
    all_rows.sort(key=lambda r: (r["run"], IMAGES.index(r["image"])))
    n_runs = max(len(r) for r in rows_by_image.values())
    print_table(rows_by_image, n_runs, baseline, nic)
    for image, rows in rows_by_image.items():
        bad = [r["run"] for r in rows if not r["ok"]]
        if bad:
            print(f"\n{image}: failed boots (runs {bad}) count only with what they logged")
    write_csv(csv_path, all_rows)
    chosen = {}
    for image in IMAGES:
        r = median_boot(rows_by_image[image])
        if r is not None:
            chosen[image] = r
    if chosen:
        step_rows = {img: steps[os.path.join(logdir, f"{img}-{r['run']:02d}.log")]
                     for img, r in chosen.items()}
        write_svg(svg_path, chosen, step_rows, baseline, nic)
    return 0


def main(argv):
    if argv[-1] in NICS and len(argv) in (4, 7):
        nic, argv = argv[-1], argv[:-1]
    else:
        nic = "e1000"
    if len(argv) == 3 and argv[1] == "line":
        line(argv[2], nic)
        return 0
    if len(argv) == 6 and argv[1] == "table":
        return table(*argv[2:], nic)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
