package fielderr

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListMergesWithPrefixesAndLocates(t *testing.T) {
	var inner List
	inner.Add("regex", "bad %s", "pattern")
	var outer List
	outer.Merge("match[0].uri", inner.Err())
	outer.Merge("weight", errors.New("plain"))
	outer.Locate(`VirtualService "reviews"`)

	err := outer.Err()
	require.Error(t, err)
	assert.Equal(t, 2, outer.Len())
	assert.Equal(t, "VirtualService \"reviews\": match[0].uri.regex: bad pattern\n"+
		"VirtualService \"reviews\": weight: plain", err.Error())
	var fe *Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "match[0].uri.regex", fe.Path)
}

func TestJoin(t *testing.T) {
	assert.Equal(t, "a.b", Join("a", "b"))
	assert.Equal(t, "a[0]", Join("a", "[0]"))
	assert.Equal(t, "b", Join("", "b"))
	assert.Equal(t, "a", Join("a", ""))
	assert.Equal(t, `h["x-y"]`, Key("h", "x-y"))
	assert.Nil(t, (&List{}).Err())
}

func TestErrCapsReportedErrors(t *testing.T) {
	var l List
	for i := range MaxReported + 5 {
		l.Add("f", "problem %d", i)
	}
	errs := Flatten(l.Err())
	assert.Len(t, errs, MaxReported+1)
	assert.Equal(t, "and 5 more errors", errs[MaxReported].Error())
}

func TestMergedCountsStayExact(t *testing.T) {
	// 25 lists of 25 lists of 25 errors, each capped and merged into the
	// next: 15,625 errors, not "100 … and 1 more".
	var top List
	for range 25 {
		var mid List
		for range 25 {
			var leaf List
			for range 25 {
				leaf.Add("f", "problem")
			}
			mid.Merge("m", leaf.Err())
		}
		top.Merge("t", mid.Err())
	}
	assert.Equal(t, 15625, top.Len())
	errs := Flatten(top.Err())
	require.Len(t, errs, MaxReported+1)
	assert.Equal(t, "t.m.f: problem", errs[0].Error())
	assert.Equal(t, "and 15525 more errors", errs[MaxReported].Error())

	var only List
	only.Omit(3)
	assert.Equal(t, "and 3 more errors", only.Err().Error())
}

func TestQuoteCutsLongValues(t *testing.T) {
	assert.Equal(t, `"a\r\nb"`, Quote("a\r\nb"))
	assert.Equal(t, `"`+strings.Repeat("x", 64)+`"… (1000 bytes)`, Quote(strings.Repeat("x", 1000)))
	assert.Equal(t, `"`+strings.Repeat("x", 63)+`"… (67 bytes)`, Quote(strings.Repeat("x", 63)+"éé"), "cut on a rune boundary")
	assert.Equal(t, `h["`+strings.Repeat("k", 64)+`"… (100 bytes)]`, Key("h", strings.Repeat("k", 100)))
}

func TestKeptErrorsSurviveFullLists(t *testing.T) {
	var inner List
	for range MaxReported {
		inner.Add("f", "problem")
	}
	inner.Keep("g", "decoding stopped")
	var outer List
	for range MaxReported {
		outer.Add("h", "earlier")
	}
	outer.AddList(&inner)
	errs := Flatten(outer.Err())
	require.Len(t, errs, MaxReported+2)
	assert.Equal(t, "g: decoding stopped", errs[MaxReported].Error())
	assert.Equal(t, "and 100 more errors", errs[MaxReported+1].Error())

	var merged List
	merged.Merge("p", outer.Err())
	assert.Equal(t, 201, merged.Len())
	assert.Equal(t, "p.g: decoding stopped", Flatten(merged.Err())[MaxReported].Error())
}
