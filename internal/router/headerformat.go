package router

import (
	"fmt"
	"strings"
)

// headerValueLiteral reads a header operation's value as Envoy does: "%%"
// is a literal "%", and "%NAME%" or "%NAME(args)%" is one of Envoy's
// substitution formatters. It follows the grammar Istio's validation
// checks (pkg/config/validation's validateHeaderValue), and returns the
// literal value, or an error naming the formatter: the formatters stand
// for the state of a proxy (its listener, its upstream connection, its
// stream info), which this in-process client does not model, so each is
// refused by name rather than sent as text or left empty.
func headerValueLiteral(v string) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	names, err := formatters(v)
	if err != nil {
		return "", err
	}
	if len(names) > 0 {
		return "", fmt.Errorf("not supported: Envoy's %%%s%% formatter describes a proxy's connection and stream, which an in-process client does not have; write a literal value (%%%% for a %% sign)", names[0])
	}
	return strings.ReplaceAll(v, "%%", "%"), nil
}

// formatters checks v against the grammar of Envoy's header formatters as
// Istio's validation reads it — literal text, "%%", "%NAME%", and
// "%NAME(args)%" whose args are a bare string or a JSON-style array of
// quoted strings — and returns the formatter names it holds.
func formatters(v string) ([]string, error) {
	var names []string
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			continue
		}
		switch {
		case i+1 == len(v):
			return nil, fmt.Errorf(`un-escaped %% at the end of %q; write "%%%%" for a literal %%`, v)
		case v[i+1] == '%':
			i++
			continue
		}
		start := i + 1
		end, err := formatterEnd(v, start)
		if err != nil {
			return nil, err
		}
		name, _, _ := strings.Cut(v[start:end], "(")
		names = append(names, name)
		i = end
	}
	return names, nil
}

// formatterEnd returns the index of the "%" that closes the formatter
// whose name starts at i.
func formatterEnd(v string, i int) (int, error) {
	unterminated := fmt.Errorf("un-terminated formatter in %q: write %%NAME%%, %%NAME(args)%%, or %%%% for a literal %%", v)
	for ; i < len(v) && v[i] != '%' && v[i] != '('; i++ {
	}
	if i == len(v) {
		return 0, unterminated
	}
	if v[i] == '%' {
		return i, nil
	}
	i++ // past "("
	for i < len(v) && v[i] == ' ' {
		i++
	}
	if i == len(v) {
		return 0, unterminated
	}
	if v[i] == '[' { // ["a", "b"]
		i++
		for {
			for i < len(v) && v[i] == ' ' {
				i++
			}
			if i == len(v) {
				return 0, unterminated
			}
			if v[i] != '"' {
				return 0, fmt.Errorf(`formatter arguments in %q: expected '"'`, v)
			}
			j, err := stringEnd(v, i+1)
			if err != nil {
				return 0, err
			}
			if j < 0 { // a ")" inside the string ends the arguments
				return 0, unterminated
			}
			i = j + 1
			for i < len(v) && v[i] == ' ' {
				i++
			}
			if i == len(v) {
				return 0, unterminated
			}
			if v[i] == ']' {
				i++
				break
			}
			if v[i] != ',' {
				return 0, fmt.Errorf(`formatter arguments in %q: expected ',', ']' or a space`, v)
			}
			i++
		}
		for i < len(v) && v[i] == ' ' {
			i++
		}
		if i == len(v) || v[i] != ')' {
			return 0, fmt.Errorf(`formatter arguments in %q: expected ')'`, v)
		}
	} else { // a bare argument, up to ")"
		for i < len(v) && v[i] != ')' {
			if v[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(v) {
			return 0, unterminated
		}
	}
	i++ // past ")"
	for i < len(v) && v[i] == ' ' {
		i++
	}
	if i == len(v) {
		return 0, unterminated
	}
	if v[i] != '%' {
		return 0, fmt.Errorf(`formatter in %q: expected '%%' after ')'`, v)
	}
	return i, nil
}

// stringEnd returns the index of the quote closing the string that starts
// at i, or -1 when a ")" comes first (Istio's reading: it ends the
// arguments).
func stringEnd(v string, i int) (int, error) {
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if i+1 == len(v) {
				return 0, fmt.Errorf("un-terminated backslash in %q", v)
			}
			i++
		case ')':
			return -1, nil
		case '"':
			return i, nil
		}
	}
	return 0, fmt.Errorf("un-terminated string in %q", v)
}
