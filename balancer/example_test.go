package balancer_test

import (
	"fmt"

	"github.com/switchyard-go/switchyard/balancer"
)

// Consistent hashing: the same key always reaches the same endpoint, on
// every replica of the client.
func ExampleNewRingHash() {
	eps := []*balancer.Endpoint{
		{Address: "10.0.0.1:80", State: &balancer.State{}},
		{Address: "10.0.0.2:80", State: &balancer.State{}},
		{Address: "10.0.0.3:80", State: &balancer.State{}},
	}
	a, _ := balancer.NewRingHash(eps, 0, nil)
	b, _ := balancer.NewRingHash(eps, 0, nil) // another client
	for _, user := range []string{"alice", "bob"} {
		x, _ := a.PickHash(balancer.Hash(user), 0)
		y, _ := b.PickHash(balancer.Hash(user), 0)
		fmt.Println(user, x.Address == y.Address)
	}
	// Output:
	// alice true
	// bob true
}

// Least request: of two distinct endpoints drawn at random, the one with
// fewer requests in flight wins.
func ExampleNew() {
	eps := []*balancer.Endpoint{
		{Address: "10.0.0.1:80", State: &balancer.State{}},
		{Address: "10.0.0.2:80", State: &balancer.State{}},
	}
	eps[0].State.Begin() // one request in flight on the first
	p, _ := balancer.New(nil, eps, nil)
	ep, _ := p.Pick()
	fmt.Println(ep.Address)
	// Output: 10.0.0.2:80
}
