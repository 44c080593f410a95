package parcels

import (
	"fmt"

	"github.com/vendorgate/vendorgate/internal/domainerr"
	"github.com/vendorgate/vendorgate/internal/vendorerr"
	"github.com/vendorgate/vendorgate/services/logistics/internal/damaijia"
)

// domainError gives damaijia's refusals their own reasons
// (FAILED_PRECONDITION) and makes its "body must be JSON" our INTERNAL bug;
// any other error goes back as it is.
func domainError(err error) error {
	if err == nil {
		return nil
	}
	if damaijia.IsOurBug(err) {
		// %v, not %w: the vendor's classification must not reach the
		// caller; this is vendorgate's bug (INTERNAL), logged once.
		return fmt.Errorf("damaijia could not parse our request body: %v", err)
	}
	if reason, ok := damaijia.RefusalReason(err); ok {
		ve, _ := vendorerr.As(err)
		return &domainerr.Error{Kind: domainerr.KindFailedPrecondition, Reason: reason,
			Message:  "damaijia refused the request: " + ve.Message,
			Metadata: map[string]string{"vendor": ve.Vendor, "vendor_code": ve.Code, "vendor_message": ve.Message, "endpoint": ve.Endpoint}}
	}
	return err
}
