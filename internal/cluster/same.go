package cluster

import (
	"reflect"

	"github.com/switchyard-go/switchyard/subset"
)

// SameEntry reports whether two ServiceEntries are equal: a copy of an
// unchanged entry is recognised by its fields and the identity of its
// slices, without walking them; others are compared deeply.
func SameEntry(a, b *subset.ServiceEntry) bool {
	return a == b || copiedEntry(a, b) || reflect.DeepEqual(a, b)
}

// SameRule is SameEntry for DestinationRules.
func SameRule(a, b *subset.DestinationRule) bool {
	return a == b || copiedRule(a, b) || reflect.DeepEqual(a, b)
}

// copiedEntry reports whether b is a copy of a: its fields equal, its
// slices the same in memory. TestCopiedComparesEveryField keeps it in step
// with the type.
func copiedEntry(a, b *subset.ServiceEntry) bool {
	return a.Name == b.Name && a.Namespace == b.Namespace && a.Location == b.Location && a.Resolution == b.Resolution &&
		sameSlice(a.Hosts, b.Hosts) && sameSlice(a.Addresses, b.Addresses) && sameSlice(a.Ports, b.Ports) &&
		sameSlice(a.Endpoints, b.Endpoints) && sameSlice(a.ExportTo, b.ExportTo) && sameSlice(a.SubjectAltNames, b.SubjectAltNames)
}

// copiedRule is copiedEntry for DestinationRules.
func copiedRule(a, b *subset.DestinationRule) bool {
	return a.Name == b.Name && a.Namespace == b.Namespace && a.Host == b.Host && a.TrafficPolicy == b.TrafficPolicy &&
		sameSlice(a.Subsets, b.Subsets) && sameSlice(a.ExportTo, b.ExportTo)
}

// sameSlice reports whether a and b are the same elements in memory, or
// both empty.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
