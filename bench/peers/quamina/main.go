// Peer-benchmark driver for Quamina (github.com/timbray/quamina, fetched as a Go module).
//
//	quamina-driver --patterns rules-N/patterns.jsonl --events events-E.jsonl [--runs 5]
//	    [--warmup 1] [--max-run-seconds S] [--limit K] [--out matches.jsonl] [--skip-feature F]...
//
// Loads the EventBridge-form patterns into one Quamina instance (timed: build), runs one
// untimed warm-up pass, times --runs passes of MatchesForEvent over the events on one core
// (GOMAXPROCS=1) and prints one JSON object on stdout. With --out, one more untimed pass writes
// {"line":N,"matched":[sorted names]} per event, the shape of `switchboard match`.
//
// Quamina has no numeric range operator: run.sh passes --skip-feature numeric, and the
// agreement check compares Quamina on the rules it loaded only. A pattern that AddPattern
// rejects is listed in rules_rejected and left out the same way.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/timbray/quamina"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

type patternLine struct {
	Name     string          `json:"name"`
	Pattern  json.RawMessage `json:"pattern"`
	Features []string        `json:"features"`
}

func main() {
	runtime.GOMAXPROCS(1)
	patterns := flag.String("patterns", "", "patterns.jsonl")
	events := flag.String("events", "", "events JSON lines")
	out := flag.String("out", "", "write matches here")
	runs := flag.Int("runs", 5, "timed passes")
	warmup := flag.Int("warmup", 1, "untimed passes first")
	maxRun := flag.Float64("max-run-seconds", 0, "stop a timed pass after this many seconds (0: whole file)")
	limit := flag.Int("limit", 0, "read only the first K events")
	checkEvents := flag.Int("check-events", 0, "with --out: write the matches of the first K events only (0: all)")
	checkMax := flag.Float64("check-max-seconds", 0, "with --out: stop writing matches after this many seconds (0: no limit)")
	var skip multi
	flag.Var(&skip, "skip-feature", "skip rules using this feature (repeatable)")
	flag.Parse()
	if *patterns == "" || *events == "" {
		fail("--patterns and --events are required")
	}
	skipSet := map[string]bool{}
	for _, s := range skip {
		skipSet[s] = true
	}

	var pats []patternLine
	skipped := 0
	pf, err := os.Open(*patterns)
	check(err)
	sc := bufio.NewScanner(pf)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var p patternLine
		check(json.Unmarshal(line, &p))
		ok := true
		for _, f := range p.Features {
			if skipSet[f] {
				ok = false
			}
		}
		if !ok {
			skipped++
			continue
		}
		pats = append(pats, p)
	}
	check(sc.Err())
	pf.Close()

	var evs [][]byte
	var eventBytes int64
	ef, err := os.Open(*events)
	check(err)
	sc = bufio.NewScanner(ef)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() && (*limit == 0 || len(evs) < *limit) {
		b := append([]byte(nil), sc.Bytes()...)
		evs = append(evs, b)
		eventBytes += int64(len(b) + 1)
	}
	check(sc.Err())
	ef.Close()

	rssBefore := vmKB("VmRSS:")
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	q, err := quamina.New()
	check(err)
	var rejected []string
	for _, p := range pats {
		if err := q.AddPattern(p.Name, string(p.Pattern)); err != nil {
			rejected = append(rejected, p.Name+": "+err.Error())
		}
	}
	buildMs := float64(time.Since(t0).Nanoseconds()) / 1e6
	runtime.GC()
	runtime.ReadMemStats(&after)
	debug.FreeOSMemory()

	pass := func(deadline time.Duration) (int, int) {
		start := time.Now()
		n, m := 0, 0
		for i, ev := range evs {
			got, err := q.MatchesForEvent(ev)
			check(err)
			m += len(got)
			n++
			if deadline > 0 && i&255 == 255 && time.Since(start) > deadline {
				break
			}
		}
		return n, m
	}
	dl := time.Duration(*maxRun * float64(time.Second))
	for i := 0; i < *warmup; i++ {
		pass(dl)
	}
	var eps []float64
	var ns []int
	matches, measured := 0, 0
	for r := 0; r < *runs; r++ {
		s := time.Now()
		n, m := pass(dl)
		dt := time.Since(s).Seconds()
		eps = append(eps, float64(n)/dt)
		ns = append(ns, n)
		matches, measured = m, n
	}
	if *out != "" {
		f, err := os.Create(*out)
		check(err)
		w := bufio.NewWriterSize(f, 1<<20)
		cStart := time.Now()
		for i, ev := range evs {
			if *checkEvents > 0 && i >= *checkEvents {
				break
			}
			if *checkMax > 0 && i >= 1000 && i&255 == 0 && time.Since(cStart).Seconds() > *checkMax {
				break
			}
			if len(strings.TrimSpace(string(ev))) == 0 {
				continue
			}
			got, err := q.MatchesForEvent(ev)
			check(err)
			names := make([]string, 0, len(got))
			for _, x := range got {
				names = append(names, x.(string))
			}
			sort.Strings(names)
			names = dedup(names)
			nb, _ := json.Marshal(names)
			fmt.Fprintf(w, "{\"line\":%d,\"matched\":%s}\n", i+1, nb)
		}
		check(w.Flush())
		check(f.Close())
	}
	heapPerRule := int64(0)
	if len(pats) > 0 && after.HeapAlloc > before.HeapAlloc {
		heapPerRule = int64(after.HeapAlloc-before.HeapAlloc) / int64(len(pats))
	}
	if rejected == nil {
		rejected = []string{}
	}
	res := map[string]any{
		"engine":              "quamina",
		"version":             moduleVersion(),
		"rules_loaded":        len(pats) - len(rejected),
		"rules_skipped":       skipped,
		"rules_rejected":      rejected,
		"events":              len(evs),
		"event_bytes":         eventBytes,
		"events_measured":     ns,
		"build_ms":            round1(buildMs),
		"heap_bytes_per_rule": heapPerRule,
		"warmup_passes":       *warmup,
		"events_per_s":        eps,
		"matches_per_event":   float64(matches) / float64(max(measured, 1)),
		"peak_rss_kb":         vmKB("VmHWM:"),
		"rss_before_build_kb": rssBefore,
		"gomaxprocs":          runtime.GOMAXPROCS(0),
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

func dedup(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if strings.Contains(d.Path, "quamina") {
				return d.Version
			}
		}
	}
	return "unknown"
}

func vmKB(key string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, key) {
			v, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(l, key), "kB")), 10, 64)
			return v
		}
	}
	return -1
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "quamina-driver:", msg)
	os.Exit(1)
}
