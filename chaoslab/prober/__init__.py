"""The in-cluster steady-state prober: `chaoslab probe`'s own code, run continuously inside the cluster.

Every PUBLISH_INTERVAL_S it probes the frontend open-loop with `chaoslab.probe.probe`, aggregates the
interval in the pod, and publishes the interval's figures once: to CloudWatch (one PutMetricData call,
high resolution) when a namespace is given, and always as Prometheus text on its metrics port.

It imports nothing from the Pulumi program: the stack ships this package (and what it imports) to the
pod as a ConfigMap, see components/steady_state.py.
"""
