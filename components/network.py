"""A dedicated VPC for the lab, over two availability zones chosen by zone ID (`chaoslab.config.zones`).

By default there is no NAT gateway: it would cost more per hour than three spot nodes. Nodes then sit
in public subnets with public IPs; nothing from the internet reaches them because no security group the
lab (or EKS) creates admits internet traffic. `private_nodes=True` moves nodes into private subnets
behind one NAT gateway instead, the production layout.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from chaoslab.config.zones import ZONE_SLOTS, Zone

VPC_CIDR = "10.42.0.0/16"
# /20s leave room for the VPC CNI, which gives every pod an address from its node's subnet. The lower
# half of the VPC holds the public subnets, the upper half the private ones, one /20 per zone slot.
SUBNET_PREFIX = 20
# Subnet tags the AWS load balancer integrations use to find where to put public and internal LBs.
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"
ANYWHERE = "0.0.0.0/0"


def subnet_cidr(zone: Zone, *, private: bool) -> str:
    """The zone's own /20: a subnet keeps its CIDR whichever other zones are chosen."""
    half = list(ipaddress.IPv4Network(VPC_CIDR).subnets(prefixlen_diff=1))[int(private)]
    slots = list(half.subnets(new_prefix=SUBNET_PREFIX))
    assert len(slots) == ZONE_SLOTS, "each half of the VPC holds one /20 per zone slot"
    return str(slots[zone.slot])


@dataclass
class NetworkArgs:
    cluster_name: str
    private_nodes: bool
    zones: Sequence[Zone]


class Network(pulumi.ComponentResource):
    # The zones the subnets are in, in order (plain: known when the program runs).
    zones: list[Zone]
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    node_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:network:Network", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)

        vpc = self._vpc()
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=self._child)
        public_routes = self._route_table(
            "public", vpc, aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE, gateway_id=gateway.id)
        )
        # Without a NAT gateway, nodes need their own public address to pull images and reach AWS APIs.
        public_subnets = self._subnets_per_zone(
            vpc, public_routes, private=False, map_public_ip=not args.private_nodes, elb_tag=PUBLIC_ELB_TAG
        )
        private_subnets: list[aws.ec2.Subnet] = []
        if args.private_nodes:
            nat = self._nat_gateway(public_subnets[0], gateway)
            private_routes = self._route_table(
                "private", vpc, aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE, nat_gateway_id=nat.id)
            )
            private_subnets = self._subnets_per_zone(
                vpc, private_routes, private=True, map_public_ip=False, elb_tag=INTERNAL_ELB_TAG
            )

        self.zones = list(args.zones)
        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in private_subnets])
        self.node_subnet_ids = self.private_subnet_ids if args.private_nodes else self.public_subnet_ids
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "node_subnet_ids": self.node_subnet_ids,
            }
        )

    def _vpc(self) -> aws.ec2.Vpc:
        vpc = aws.ec2.Vpc(
            f"{self._name}-vpc",
            cidr_block=VPC_CIDR,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{self._name}-vpc"},
            opts=self._child,
        )
        # Taking over the VPC's default security group with no rules leaves nothing that admits traffic by accident.
        aws.ec2.DefaultSecurityGroup(f"{self._name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=self._child)
        return vpc

    def _route_table(
        self, kind: str, vpc: aws.ec2.Vpc, default_route: aws.ec2.RouteTableRouteArgs
    ) -> aws.ec2.RouteTable:
        return aws.ec2.RouteTable(f"{self._name}-{kind}", vpc_id=vpc.id, routes=[default_route], opts=self._child)

    def _nat_gateway(self, public_subnet: aws.ec2.Subnet, gateway: aws.ec2.InternetGateway) -> aws.ec2.NatGateway:
        """One NAT gateway, in the first public subnet: the private subnets' way out."""
        address = aws.ec2.Eip(f"{self._name}-nat", domain="vpc", opts=self._child)
        return aws.ec2.NatGateway(
            f"{self._name}-nat",
            allocation_id=address.id,
            subnet_id=public_subnet.id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
        )

    def _subnets_per_zone(
        self, vpc: aws.ec2.Vpc, routes: aws.ec2.RouteTable, *, private: bool, map_public_ip: bool, elb_tag: str
    ) -> list[aws.ec2.Subnet]:
        """One subnet per zone, each with its zone's own /20 and associated with `routes`."""
        kind = "private" if private else "public"
        tags = {f"kubernetes.io/cluster/{self._args.cluster_name}": "shared", elb_tag: "1"}
        subnets = []
        for zone in self._args.zones:
            name = f"{self._name}-{kind}-{zone.zone_id}"
            subnet = aws.ec2.Subnet(
                name,
                vpc_id=vpc.id,
                # By ID: the name behind an ID differs from account to account.
                availability_zone_id=zone.zone_id,
                cidr_block=subnet_cidr(zone, private=private),
                map_public_ip_on_launch=map_public_ip,
                tags={"Name": name, **tags},
                opts=self._child,
            )
            aws.ec2.RouteTableAssociation(name, subnet_id=subnet.id, route_table_id=routes.id, opts=self._child)
            subnets.append(subnet)
        return subnets
