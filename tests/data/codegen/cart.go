package cart

import (
	"context"

	"github.com/open-feature/go-sdk/openfeature"
)

type Cart struct {
	Items []int
}

// Total is the amount to charge: items plus shipping, free from 100.
func (c Cart) Total(ctx context.Context, client *openfeature.Client, userID string) int {
	// Sum the items.
	subtotal := 0
	for _, item := range c.Items {
		subtotal += item
	}
	shipping := 5
	if subtotal >= 100 {
		shipping = 0
	}
	return subtotal + shipping
}
