// Package fielderr collects configuration errors that name where they are: the
// resource and the field path inside it, as Istio's validation does.
package fielderr

import (
	"errors"
	"fmt"
	"strings"
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

// List accumulates errors. Its zero value is empty and ready to use.
type List struct {
	errs []*Error
}

// Add records a problem at path.
func (l *List) Add(path, format string, args ...any) {
	l.errs = append(l.errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Merge records every error in err, with prefix put in front of its path.
// Errors that are not *Error are recorded with prefix as their path.
func (l *List) Merge(prefix string, err error) {
	if err == nil {
		return
	}
	for _, e := range Flatten(err) {
		var fe *Error
		if errors.As(e, &fe) {
			c := *fe
			c.Path = Join(prefix, fe.Path)
			l.errs = append(l.errs, &c)
			continue
		}
		l.errs = append(l.errs, &Error{Path: prefix, Msg: e.Error()})
	}
}

// Locate sets the resource of every error recorded so far that has none.
func (l *List) Locate(resource string) {
	for _, e := range l.errs {
		if e.Resource == "" {
			e.Resource = resource
		}
	}
}

// Len reports how many errors have been recorded.
func (l *List) Len() int { return len(l.errs) }

// MaxReported bounds how many errors Err reports; the rest are counted.
const MaxReported = 100

// Err returns the recorded errors joined with errors.Join, or nil. Past
// MaxReported errors, a last one says how many more there are.
func (l *List) Err() error {
	if len(l.errs) == 0 {
		return nil
	}
	n := min(len(l.errs), MaxReported)
	errs := make([]error, n, n+1)
	for i, e := range l.errs[:n] {
		errs[i] = e
	}
	if more := len(l.errs) - n; more > 0 {
		errs = append(errs, &Error{Msg: fmt.Sprintf("and %d more errors", more)})
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
func Index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// Key returns path[key], quoting keys that are not plain words.
func Key(path, key string) string { return fmt.Sprintf("%s[%q]", path, key) }
