"""Great Expectations suites, one per tier, and the gate that runs a suite on an audit snapshot."""
