"""Speaker embedding networks, re-implemented from their reference architectures: CAM++ and GE2E."""
