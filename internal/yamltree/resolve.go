package yamltree

import (
	"strconv"
	"strings"
	"time"
)

// resolvePlain returns the tag yaml.v3 gives a plain scalar: YAML 1.2's
// core schema with yaml.v3's own additions (YAML 1.1 timestamps, "<<" as
// a merge key, base-2 and base-8 integers, underscores in numbers). It
// calls the same strconv functions as yaml.v3, and skips them only where
// they must fail, so that most strings resolve without allocating.
func resolvePlain(s string) tag {
	if s == "" {
		return tagNull
	}
	switch s {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return tagBool
	case "~", "null", "Null", "NULL":
		return tagNull
	case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return tagFloat
	case "<<":
		return tagMerge
	}
	switch c := s[0]; {
	case c == '.':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return tagFloat
		}
	case c == '+' || c == '-' || '0' <= c && c <= '9':
		if isTimestamp(s) {
			return tagTimestamp
		}
		plain := strings.ReplaceAll(s, "_", "")
		if maybeInt(plain) {
			if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
				return tagInt
			}
			if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
				return tagInt
			}
		}
		if isYAMLFloat(plain) {
			if _, err := strconv.ParseFloat(plain, 64); err == nil {
				return tagFloat
			}
		}
		var digits string
		base := 2
		switch {
		case strings.HasPrefix(plain, "0b"):
			digits = plain[2:]
		case strings.HasPrefix(plain, "-0b"):
			digits = "-" + plain[3:]
		case strings.HasPrefix(plain, "0o"):
			digits, base = plain[2:], 8
		case strings.HasPrefix(plain, "-0o"):
			digits, base = "-"+plain[3:], 8
		default:
			return tagStr
		}
		if maybeInt(digits) {
			if _, err := strconv.ParseInt(digits, base, 64); err == nil {
				return tagInt
			}
			if digits[0] != '-' {
				if _, err := strconv.ParseUint(digits, base, 64); err == nil {
					return tagInt
				}
			}
		}
	}
	return tagStr
}

// maybeInt reports whether strconv.ParseInt or ParseUint could accept s
// in some base: a sign, then digits and letters of base prefixes and hex
// digits only. It is a cheap filter; strconv decides.
func maybeInt(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F',
			c == 'x', c == 'X', c == 'o', c == 'O':
		default:
			return false
		}
	}
	return true
}

// isYAMLFloat reports whether s matches yaml.v3's float syntax,
// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$.
func isYAMLFloat(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	} else {
		if digits() == 0 {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// timestampLayouts are the timestamp forms yaml.v3 recognises.
var timestampLayouts = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

// isTimestamp reports whether yaml.v3 reads s as a timestamp: four digits
// and a dash, then one of timestampLayouts.
func isTimestamp(s string) bool {
	if len(s) < 5 || s[4] != '-' {
		return false
	}
	for i := range 4 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	for _, layout := range timestampLayouts {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}
