package router

import (
	"slices"

	"github.com/switchyard-go/switchyard/match"
)

// indexMinRoutes is the number of routes from which a virtual host indexes
// them by path; below it a scan is as fast.
const indexMinRoutes = 16

// maxPrefixLengths bounds the distinct prefix lengths an index looks up per
// request; a virtual host with more scans instead.
const maxPrefixLengths = 12

// routeIndex finds the routes whose uri condition can match a path, in
// route order, so that matching does not scan every route: routes with an
// exact uri are listed under it, those with a prefix under the prefix, and
// the rest (regex, case-insensitive, or no uri) in always.
type routeIndex struct {
	exact   map[string][]int32
	prefix  map[string][]int32
	lengths []int // distinct prefix lengths, ascending
	always  []int32
}

func buildIndex(routes []*Route) *routeIndex {
	if len(routes) < indexMinRoutes {
		return nil
	}
	ix := &routeIndex{exact: map[string][]int32{}, prefix: map[string][]int32{}}
	add := func(list []int32, i int32) []int32 {
		if n := len(list); n > 0 && list[n-1] == i {
			return list
		}
		return append(list, i)
	}
	lengths := map[int]bool{}
	for i, r := range routes {
		r.matcher.URIConditions(func(kind match.Kind, value string, fold bool) {
			switch {
			case fold || (kind != match.KindExact && kind != match.KindPrefix):
				ix.always = add(ix.always, int32(i))
			case kind == match.KindExact:
				ix.exact[value] = add(ix.exact[value], int32(i))
			default:
				ix.prefix[value] = add(ix.prefix[value], int32(i))
				lengths[len(value)] = true
			}
		})
	}
	for l := range lengths {
		ix.lengths = append(ix.lengths, l)
	}
	slices.Sort(ix.lengths)
	if len(ix.lengths) > maxPrefixLengths {
		return nil
	}
	return ix
}

// match returns the first route, in route order, among those whose uri
// condition can match in.Path, that matches in.
func (ix *routeIndex) match(routes []*Route, in *match.Input) (*Route, int) {
	var lists [maxPrefixLengths + 2][]int32
	n := 0
	if l := ix.exact[in.Path]; len(l) > 0 {
		lists[n] = l
		n++
	}
	for _, length := range ix.lengths {
		if length > len(in.Path) {
			break
		}
		if l := ix.prefix[in.Path[:length]]; len(l) > 0 {
			lists[n] = l
			n++
		}
	}
	if len(ix.always) > 0 {
		lists[n] = ix.always
		n++
	}
	// Merge the sorted lists, smallest route index first.
	var pos [maxPrefixLengths + 2]int
	last := int32(-1)
	for {
		best := -1
		for i := range n {
			if pos[i] < len(lists[i]) && (best < 0 || lists[i][pos[i]] < lists[best][pos[best]]) {
				best = i
			}
		}
		if best < 0 {
			return nil, 0
		}
		ri := lists[best][pos[best]]
		pos[best]++
		if ri == last {
			continue
		}
		last = ri
		r := routes[ri]
		if b, ok := r.matcher.Match(in); ok {
			return r, b
		}
	}
}
