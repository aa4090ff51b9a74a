// Package rollout runs progressive delivery in-process: a [Controller]
// shifts one route of a VirtualService from a stable subset to a canary
// subset through weight steps, judges each step by what the mesh itself
// observed for both subsets — no metrics backend — and promotes the canary
// to 100% or rolls it back to 0% on its own.
//
// At each interval the controller compares the canary's request count,
// error rate (5xx and failed requests) and p99 latency with absolute
// thresholds and with the stable subset's; a failed check rolls back at
// once, too few requests waits (at most MaxWaits intervals), a passed check
// moves to the next step, and passing the last promotes. An optional dark
// launch first sends only matching requests (say, a header) to the canary.
// Pause, Resume and Abort give manual gates. Every change goes through
// Mesh.Modify, so it composes with the user's own updates.
//
//	c, err := rollout.New(mesh, rollout.Config{
//		VirtualService: "reviews", Route: "split", Stable: "v1", Canary: "v2",
//		StepWeights: []int32{5, 10, 50}, Interval: time.Minute,
//		Analysis: rollout.Analysis{MinRequests: 100, MaxErrorRate: 1, MaxLatencyRatio: 1.5},
//	}, rollout.OnEvent(func(e rollout.Event) { log.Println(e) }))
//	c.Start()
//	defer c.Stop()
//
// [Parse] reads the same configuration from YAML modelled on Flagger's
// Canary analysis.
package rollout
