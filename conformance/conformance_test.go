package conformance

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"unicode/utf8"

	sigsyaml "sigs.k8s.io/yaml"
)

var (
	flagTable = flag.Bool("table", os.Getenv("CONFORMANCE_TABLE") != "",
		"print every document's verdicts (or set CONFORMANCE_TABLE=1)")
	flagReport = flag.String("report", os.Getenv("CONFORMANCE_REPORT"),
		"write the disagreement report, in Markdown, to this file (or set CONFORMANCE_REPORT)")
)

// knownDifferencesFile lists the reviewed differences with Istio.
const knownDifferencesFile = "known_differences.yaml"

// knownDifference is one reviewed difference: a document Istio accepts and
// switchyard rejects because it reports a feature as not supported.
type knownDifference struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// result is both verdicts on one document.
type result struct {
	doc   document
	istio istioResult
	sy    verdict // set for compared documents only
}

func (r result) compared() bool { return r.istio.class == handled }

func (r result) agrees() bool { return !r.compared() || r.istio.ok == r.sy.local().ok }

// line is the one-line account of a result used in failures and the table.
func (r result) line(limit int) string {
	s := fmt.Sprintf("%s: istio=%s switchyard=%s", r.doc.id, r.istio.verdict, r.sy)
	if !r.istio.ok {
		s += " | istio: " + clip(r.istio.errText(), limit)
	}
	if !r.sy.ok {
		s += " | switchyard: " + clip(r.sy.errText(), limit)
	}
	return s
}

// clip cuts s to about limit bytes, at a rune boundary.
func clip(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	for limit > 0 && !utf8.RuneStart(s[limit]) {
		limit--
	}
	return s[:limit] + "…"
}

var (
	runOnce sync.Once
	runRes  []result
	runCorp *corpus
	runErr  error
)

// run validates the whole corpus on both sides, once per test binary.
func run() (*corpus, []result, error) {
	runOnce.Do(func() {
		runCorp, runErr = loadCorpus()
		if runErr != nil {
			return
		}
		for _, d := range runCorp.docs {
			r := result{doc: d, istio: validateIstio(d.yaml)}
			if r.compared() {
				r.sy = validateSwitchyard(d.yaml)
			}
			runRes = append(runRes, r)
		}
	})
	return runCorp, runRes, runErr
}

func loadKnownDifferences() ([]knownDifference, error) {
	data, err := os.ReadFile(knownDifferencesFile)
	if err != nil {
		return nil, err
	}
	var known []knownDifference
	if err := sigsyaml.UnmarshalStrict(data, &known); err != nil {
		return nil, fmt.Errorf("%s: %w", knownDifferencesFile, err)
	}
	return known, nil
}

// TestConformance compares Istio's verdict with switchyard's on every
// document of the corpus. A disagreement fails the test unless
// known_differences.yaml lists it as a feature switchyard reports as not
// supported; a listed entry that no longer disagrees fails it too.
func TestConformance(t *testing.T) {
	c, results, err := run()
	if err != nil {
		t.Fatal(err)
	}
	known, err := loadKnownDifferences()
	if err != nil {
		t.Fatal(err)
	}

	problems, listed := checkKnown(results, known)
	var lines []string
	for _, r := range results {
		if !r.agrees() && !listed[r.doc.id] {
			lines = append(lines, r.line(300))
		}
	}
	s := summarize(c, results, listed)
	t.Log(s.String())
	if *flagTable {
		writeTable(os.Stdout, results)
	}
	if *flagReport != "" {
		if err := writeReport(*flagReport, c, results, listed); err != nil {
			t.Error(err)
		}
	}
	if len(problems) > 0 {
		t.Errorf("%d problems with %s:\n%s", len(problems), knownDifferencesFile, strings.Join(problems, "\n"))
	}
	if len(lines) > 0 {
		t.Errorf("%d documents where switchyard and Istio's validator disagree (not listed in %s):\n%s",
			len(lines), knownDifferencesFile, strings.Join(lines, "\n"))
	}
}

// checkKnown checks the known differences against the results: each entry
// must name a document that still disagrees, that Istio accepts and that
// switchyard rejects only with "not supported" errors. It returns the
// problems and the set of listed IDs.
func checkKnown(results []result, known []knownDifference) (problems []string, listed map[string]bool) {
	byID := map[string]result{}
	for _, r := range results {
		byID[r.doc.id] = r
	}
	listed = map[string]bool{}
	for i, k := range known {
		switch r, ok := byID[k.ID]; {
		case k.ID == "":
			problems = append(problems, fmt.Sprintf("%s: entry %d has no id", knownDifferencesFile, i+1))
		case listed[k.ID]:
			problems = append(problems, fmt.Sprintf("%s: %s is listed twice", knownDifferencesFile, k.ID))
		case strings.TrimSpace(k.Reason) == "":
			problems = append(problems, fmt.Sprintf("%s: %s has no reason", knownDifferencesFile, k.ID))
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: %s is not in the corpus; remove it", knownDifferencesFile, k.ID))
		case !r.compared():
			problems = append(problems, fmt.Sprintf("%s: %s is a %s, which is not compared; remove it", knownDifferencesFile, k.ID, r.istio.kind))
		case r.agrees():
			problems = append(problems, fmt.Sprintf("%s: %s no longer disagrees (istio=%s switchyard=%s); remove it", knownDifferencesFile, k.ID, r.istio.verdict, r.sy))
		case !r.istio.ok || !notSupported(r.sy):
			problems = append(problems, fmt.Sprintf("%s: %s is not a feature switchyard reports as not supported, the only acceptable difference; fix it instead: %s", knownDifferencesFile, k.ID, r.line(300)))
		}
		if k.ID != "" {
			listed[k.ID] = true
		}
	}
	return problems, listed
}

// TestCorpus checks the corpus itself: every source contributes, the table
// extraction evaluates nearly every case, and switchyard never panics.
func TestCorpus(t *testing.T) {
	c, results, err := run()
	if err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, d := range c.docs {
		per[d.source]++
	}
	for _, src := range []string{srcTestdata, srcSamples, srcTables, srcOwn} {
		if per[src] == 0 {
			t.Errorf("no documents from %s", src)
		}
	}
	// A rise in skipped cases means Istio's tables use a construct the
	// evaluator does not know: teach it rather than lose the cases.
	const maxSkipped = 5
	if len(c.skipped) > maxSkipped {
		t.Errorf("%d table cases skipped, more than %d:", len(c.skipped), maxSkipped)
	}
	for _, s := range c.skipped {
		t.Logf("skipped %s: %s", s.id, s.reason)
	}
	for _, r := range results {
		if r.sy.stage == "panic" {
			t.Errorf("%s: switchyard panicked: %s", r.doc.id, r.sy.errText())
		}
	}
}

// summary counts the results.
type summary struct {
	docs, compared, agree, istioOnly, foreign, skipped int
	sources                                            map[string]int
	acceptReject, rejectAccept                         int // istio / switchyard
	listed                                             int
	istioOnlyAccepted                                  int
	strictOnly                                         int // rejected only because of unknown fields
	masked                                             int // agree only through cross-resource errors
	acceptRejectLocal                                  int // acceptReject with errors besides cross-resource ones
}

func summarize(c *corpus, results []result, listed map[string]bool) summary {
	s := summary{docs: len(results), skipped: len(c.skipped), sources: map[string]int{}}
	for _, r := range results {
		s.sources[r.doc.source]++
		switch r.istio.class {
		case istioOnly:
			s.istioOnly++
			if r.istio.ok {
				s.istioOnlyAccepted++
			}
			continue
		case foreign:
			s.foreign++
			continue
		}
		s.compared++
		if r.istio.stage == "strict" && r.istio.lenientOK {
			s.strictOnly++
		}
		switch {
		case r.agrees():
			s.agree++
			if !r.istio.ok && r.sy.local().ok {
				s.masked++
			}
		case listed[r.doc.id]:
			s.listed++
		case r.istio.ok:
			s.acceptReject++
			if !r.sy.local().ok {
				s.acceptRejectLocal++
			}
		default:
			s.rejectAccept++
		}
	}
	return s
}

func (s summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "corpus: %d documents (%d Istio testdata, %d Istio samples, %d Istio table cases, %d own); %d table cases skipped\n",
		s.docs, s.sources[srcTestdata], s.sources[srcSamples], s.sources[srcTables], s.sources[srcOwn], s.skipped)
	fmt.Fprintf(&b, "compared (ServiceEntry, DestinationRule, VirtualService, Gateway, Sidecar): %d; agree: %d (of which %d only through cross-resource errors); listed as not supported: %d\n",
		s.compared, s.agree, s.masked, s.listed)
	fmt.Fprintf(&b, "disagree: %d Istio accepts and switchyard rejects (%d of them for more than a cross-resource error); %d Istio rejects and switchyard accepts\n",
		s.acceptReject, s.acceptRejectLocal, s.rejectAccept)
	fmt.Fprintf(&b, "not compared: %d of other Istio kinds (%d accepted by Istio), %d not Istio's (Kubernetes objects…)\n",
		s.istioOnly, s.istioOnlyAccepted, s.foreign)
	fmt.Fprintf(&b, "compared documents Istio's webhook alone accepts but the API server rejects for unknown fields: %d", s.strictOnly)
	return b.String()
}

// writeTable prints one row per document.
func writeTable(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tCLASS\tISTIO\tSWITCHYARD\tAGREE\tNOTE\tISTIO ERROR\tSWITCHYARD ERROR")
	for _, r := range results {
		istio, sy, agree := r.istio.verdict.String(), "-", "-"
		switch r.istio.class {
		case handled:
			sy, agree = r.sy.String(), fmt.Sprint(r.agrees())
		case foreign:
			istio = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.doc.id, r.istio.kind, r.istio.class,
			istio, sy, agree, r.doc.note, r.istio.errText(), r.sy.errText())
	}
	_ = tw.Flush()
}

// sortedKeys returns m's keys, most frequent first.
func sortedKeys[V any](m map[string][]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(m[keys[i]]) != len(m[keys[j]]) {
			return len(m[keys[i]]) > len(m[keys[j]])
		}
		return keys[i] < keys[j]
	})
	return keys
}
