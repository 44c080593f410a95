package server

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	esignv1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/esign/v1"
	usagev1 "github.com/vendorgate/vendorgate/gen/go/vendorgate/usage/v1"
)

// Usage is what the server needs from the usage ledger
// (usage.Ledger.Report).
type Usage interface {
	Report(ctx context.Context, start, end *timestamppb.Timestamp) (*usagev1.UsageReport, error)
}

// GetUsage implements EsignServiceServer: the ledger's report of the
// service's Fadada calls; UNIMPLEMENTED without a ledger, as in every
// service.
func (s *Server) GetUsage(ctx context.Context, req *esignv1.GetUsageRequest) (*esignv1.GetUsageResponse, error) {
	if s.opts.Usage == nil {
		return s.UnimplementedEsignServiceServer.GetUsage(ctx, req)
	}
	r, err := s.opts.Usage.Report(ctx, req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	return &esignv1.GetUsageResponse{Report: r}, nil
}
