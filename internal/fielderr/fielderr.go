// Package fielderr collects configuration errors that name where they are: the
// resource and the field path inside it, as Istio's validation does.
package fielderr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Error is one problem with a configuration value.
type Error struct {
	// Resource names the document the value belongs to, for example
	// `VirtualService "default/reviews"`; empty when not yet known.
	Resource string
	// Path is the field path inside the resource, for example
	// "spec.http[0].route[1].weight".
	Path string
	// Msg says what is wrong.
	Msg string

	// omitted is, in the last error of a capped list, how many errors it
	// stands for ("and N more errors"), so that merging capped lists
	// keeps the count exact.
	omitted int
	// always keeps the error in a full list: see List.Keep.
	always bool
}

// Error formats the problem as "resource: path: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Resource != "" {
		b.WriteString(e.Resource)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// List accumulates errors: the first MaxReported in full, the rest only
// counted. Its zero value is empty and ready to use.
type List struct {
	errs     []*Error
	omitted  int // errors counted but not kept
	warnings []*Error
}

// MaxReported bounds how many errors a List keeps and Err reports (besides
// those recorded with Keep); the rest are counted.
const MaxReported = 100

// Full reports whether the list keeps no more errors: an error added now
// is only counted, so a caller can skip the work of describing it.
func (l *List) Full() bool { return len(l.errs) >= MaxReported }

// Add records a problem at path. Past MaxReported errors it is only
// counted, and not formatted.
func (l *List) Add(path, format string, args ...any) {
	if l.Full() {
		l.omitted++
		return
	}
	l.errs = append(l.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Keep records a problem at path that is described even when the list is
// full, and stays so in every list it is merged into: for the one error
// that says why the others may be incomplete.
func (l *List) Keep(path, format string, args ...any) {
	l.errs = append(l.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...), always: true})
}

// Warn records a warning at path: something Istio accepts that will not
// do what its author probably meant (a route to a subset no rule defines,
// a rule for a host no service has). Warnings do not make Err non-nil.
// Past MaxReported warnings the rest are dropped.
func (l *List) Warn(path, format string, args ...any) {
	if len(l.warnings) < MaxReported {
		l.warnings = append(l.warnings, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
}

// Warnings returns the warnings recorded so far.
func (l *List) Warnings() []*Error { return l.warnings }

// AddWarnings records warnings made elsewhere, as they are.
func (l *List) AddWarnings(ws []*Error) {
	for _, w := range ws {
		if len(l.warnings) >= MaxReported {
			return
		}
		l.warnings = append(l.warnings, w)
	}
}

// Millis records a problem at path unless d is zero (unset) or a whole
// number of milliseconds of at least one, as Istio requires of the
// durations it hands Envoy.
func (l *List) Millis(path string, d time.Duration) {
	switch {
	case d == 0:
	case d < time.Millisecond:
		l.Add(path, "%v is below the 1ms minimum", d)
	case d%time.Millisecond != 0:
		l.Add(path, "%v is finer than a millisecond; Istio takes durations to ms precision", d)
	}
}

// Omit counts n problems that are not described.
func (l *List) Omit(n int) { l.omitted += n }

// Merge records every error in err, with prefix put in front of its path.
// Errors that are not *Error are recorded with prefix as their path. The
// "and N more errors" of a capped list counts as the N errors it stands
// for.
func (l *List) Merge(prefix string, err error) {
	if err == nil {
		return
	}
	for _, e := range Flatten(err) {
		var fe *Error
		isField := errors.As(e, &fe)
		switch {
		case isField && fe.omitted > 0:
			l.omitted += fe.omitted
		case l.Full() && !(isField && fe.always):
			l.omitted++
		case isField:
			c := *fe
			c.Path = Join(prefix, fe.Path)
			l.errs = append(l.errs, &c)
		default:
			l.errs = append(l.errs, &Error{Path: prefix, Msg: e.Error()})
		}
	}
}

// AddList records every error of o, kept or counted, and its warnings.
func (l *List) AddList(o *List) {
	l.AddWarnings(o.warnings)
	for _, e := range o.errs {
		if l.Full() && !e.always {
			l.omitted++
			continue
		}
		l.errs = append(l.errs, e)
	}
	l.omitted += o.omitted
}

// Kept reports how many errors are kept, to be described by Err.
func (l *List) Kept() int { return len(l.errs) }

// Locate sets the resource of every error and warning recorded so far that has none.
func (l *List) Locate(resource string) {
	for _, es := range [][]*Error{l.errs, l.warnings} {
		for _, e := range es {
			if e.Resource == "" {
				e.Resource = resource
			}
		}
	}
}

// Len reports how many errors have been recorded, counted ones included.
func (l *List) Len() int { return len(l.errs) + l.omitted }

// Err returns the recorded errors joined with errors.Join, or nil. Past
// MaxReported errors, a last one says how many more there are.
func (l *List) Err() error {
	if l.Len() == 0 {
		return nil
	}
	errs := make([]error, len(l.errs), len(l.errs)+1)
	for i, e := range l.errs {
		errs[i] = e
	}
	if l.omitted > 0 {
		errs = append(errs, &Error{Msg: fmt.Sprintf("and %d more errors", l.omitted), omitted: l.omitted})
	}
	return errors.Join(errs...)
}

// Flatten returns the leaves of a tree of joined errors.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Join appends a field path to a prefix: Join("spec", "http[0]") is
// "spec.http[0]" and Join("http", "[0]") is "http[0]".
func Join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case path[0] == '[':
		return prefix + path
	default:
		return prefix + "." + path
	}
}

// Index returns path[i].
func Index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// Key returns path[key], with the key quoted as by Quote.
func Key(path, key string) string { return path + "[" + Quote(key) + "]" }

// maxQuoted bounds how much of a value Quote shows.
const maxQuoted = 64

// Quote quotes s for a message as strconv.Quote does, showing at most its
// first 64 bytes followed by "…" and its length, so that a message stays
// short whatever the configuration holds.
func Quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// Resource names a resource in errors: its kind and "namespace/name" (or
// just its name), quoted: VirtualService "default/reviews".
func Resource(kind, namespace, name string) string {
	if namespace != "" {
		name = namespace + "/" + name
	}
	return kind + " " + Quote(name)
}
