package node

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/exchange"
)

// TestAPIHintKeepsMessagesAndMatches: the library's errors name no flag; the API adds
// the CLI's hint, giving the messages the API has always sent, and the hinted error
// still matches what the library's did (so the status code does not move).
func TestAPIHintKeepsMessagesAndMatches(t *testing.T) {
	id, err := content.ParseID("bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea")
	if err != nil {
		t.Fatal(err)
	}
	noRouter := fmt.Errorf("content %s is not in the local store and %w", id, ErrNoRouter)
	none := &NoProvidersError{ID: id, Asked: []string{"chord found none", "kademlia failed"}}
	plain := errors.New("boom")
	for _, c := range []struct {
		err     error
		lib     string
		api     string
		matches error
	}{
		{noRouter, "content " + id.String() + " is not in the local store and no router to find providers",
			"content " + id.String() + " is not in the local store and no router to find providers: give --from MULTIADDR", ErrNoRouter},
		{none, "exchange: no provider reachable: none found for " + id.String() + " (chord found none, kademlia failed)",
			"exchange: no provider reachable: none found for " + id.String() + " (chord found none, kademlia failed; name one with --from MULTIADDR)", exchange.ErrNoProviders},
		{fmt.Errorf("get: %w", none), "get: exchange: no provider reachable: none found for " + id.String() + " (chord found none, kademlia failed)",
			"get: exchange: no provider reachable: none found for " + id.String() + " (chord found none, kademlia failed; name one with --from MULTIADDR)", exchange.ErrNoProviders},
		{plain, "boom", "boom", plain},
	} {
		if got := c.err.Error(); got != c.lib {
			t.Errorf("library error %q, want %q", got, c.lib)
		}
		h := apiHint(c.err)
		if got := h.Error(); got != c.api {
			t.Errorf("API error %q, want %q", got, c.api)
		}
		if !errors.Is(h, c.matches) || contentStatus(h) != contentStatus(c.err) {
			t.Errorf("hinted %q no longer matches %v (status %d, was %d)", h, c.matches, contentStatus(h), contentStatus(c.err))
		}
	}
	var np *NoProvidersError
	if !errors.As(apiHint(none), &np) || np.ID != id {
		t.Errorf("hinted error lost its NoProvidersError")
	}
	if apiHint(nil) != nil {
		t.Error("apiHint(nil) != nil")
	}
}
