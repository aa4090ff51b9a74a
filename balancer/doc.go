// Package balancer picks an endpoint of a cluster for each attempt: Istio's
// DestinationRule loadBalancer.simple algorithms.
//
//   - LEAST_REQUEST (Istio's default): two distinct endpoints drawn at random
//     (by weight when weights differ); the one with fewer active requests wins.
//   - ROUND_ROBIN: a smooth weighted round robin whose schedule is computed
//     once, when the picker is built.
//   - RANDOM: a uniform draw, or a weighted one through an alias table.
//   - consistentHash: Envoy's ring hash ([NewRingHash]) and Maglev
//     ([NewMaglev]) over xxHash64, picked by a hash of the request
//     ([HashPicker]).
//   - Peak-EWMA ([NewPeakEWMA], beyond Istio): two distinct choices by
//     latency average × active requests.
//
// [Settings.Algorithm] is the one table of algorithms the mesh runs: it
// returns what a DestinationRule's loadBalancer selects — its name, its
// pickers, whether it hashes, whether slow start applies, and the
// [Feedback] a latency-aware balancer learns from. Adding an algorithm is a
// picker in its own file and a row in that table.
//
// [WarmupFactor] is Envoy's slow-start weight, which the mesh applies to
// endpoints that joined recently.
//
// A [Picker] is immutable and built once per endpoint set; picks take no lock
// and allocate nothing, in constant time whatever the number of endpoints.
// The live state of an endpoint (its active requests) lives in a [State]
// that outlives pickers, so rebuilding a picker on a configuration update
// keeps it.
//
//	p, err := balancer.New(&balancer.Settings{Simple: balancer.SimpleRoundRobin}, endpoints, nil)
//	ep, err := p.Pick()
//	ep.State.Begin()
//	defer ep.State.End()
package balancer
