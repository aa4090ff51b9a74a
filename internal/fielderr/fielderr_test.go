package fielderr

import (
	"errors"
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
