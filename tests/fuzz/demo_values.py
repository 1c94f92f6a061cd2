"""Writes the fuzzer's schemathesis.toml: dictionaries of real demo-data values, bound to the
arguments that take them, so generated queries reach orders, lines, shipments and returns that
exist instead of stopping at "not found".

    python demo_values.py URL ADMIN_TOKEN OUT_TOML

Prints the ID of the customer with the most orders (for the customer token) on stdout.
"""

import json
import sys
import urllib.request

HARVEST = """
{
  customers(first: 20) {
    edges { node { id orders(first: 20) { edges { node {
      id number channelOrderRef
      lines { id sku }
      shipments { id trackingNumber }
      returns { id rmaNumber }
      substitutions { id }
    } } } } }
  }
  locations { code }
  products { sku }
}
"""

# Argument paths (`<Type>.<field>.<argument path>`, `*` for any type or field) and the
# dictionary each one draws from.
BINDINGS = {
    "Query.node.id": "ids",
    "Query.customer.id": "customerIds",
    "*.*.input.customerId": "customerIds",
    "Query.order.id": "orderIds",
    "*.*.input.orderId": "orderIds",
    "*.*.input.lines[*].lineId": "lineIds",
    "*.*.input.orderLineId": "lineIds",
    "Query.shipment.id": "shipmentIds",
    "*.*.input.shipmentId": "shipmentIds",
    "Query.return.id": "returnIds",
    "*.*.input.returnId": "returnIds",
    "Query.substitution.id": "substitutionIds",
    "*.*.input.substitutionId": "substitutionIds",
    "Query.orderByNumber.number": "orderNumbers",
    "*.*.input.orderNumber": "orderNumbers",
    "Query.orderByChannelRef.channelOrderRef": "channelOrderRefs",
    "Query.returnByRma.rmaNumber": "rmaNumbers",
    "*.*.skus[*]": "skus",
    "*.*.input.sku": "skus",
    "*.*.input.lines[*].sku": "skus",
    "*.*.input.substituteSku": "skus",
    "*.*.input.locationCode": "locationCodes",
    "*.*.locationCode": "locationCodes",
    "*.*.input.storeCode": "locationCodes",
    "*.*.input.returnLocationCode": "locationCodes",
    "*.*.input.delivery.collectionStoreCode": "locationCodes",
    "*.*.input.trackingNumber": "trackingNumbers",
    "*.*.input.shippingCost.currencyCode": "currencies",
    "*.*.input.price.currencyCode": "currencies",
    "*.*.input.unitPrice.currencyCode": "currencies",
    "*.*.input.lines[*].unitPrice.currencyCode": "currencies",
    "*.*.first": "edgeInts",
    "*.*.input.delta": "edgeInts",
    "*.*.input.quantity": "edgeInts",
    "*.*.input.lines[*].quantity": "edgeInts",
    "*.*.input.expectedVersion": "edgeInts",
    "*.*.input.version": "edgeInts",
    "*.*.input.onHand": "edgeInts",
    "*.*.input.expectedOnHand": "edgeInts",
    "*.*.input.handlingDays": "edgeInts",
    "*.*.near.latitude": "edgeFloats",
    "*.*.near.longitude": "edgeFloats",
    "*.*.input.location.latitude": "edgeFloats",
    "*.*.input.location.longitude": "edgeFloats",
    "*.*.input.address.location.latitude": "edgeFloats",
    "*.*.input.address.location.longitude": "edgeFloats",
    "*.*.input.delivery.address.location.latitude": "edgeFloats",
    "*.*.input.delivery.address.location.longitude": "edgeFloats",
}
# How often a bound argument takes a dictionary value rather than a generated one: real values
# often, so that queries reach real objects; edge values now and then, beside generated numbers.
PROBABILITY = 0.7
EDGE_PROBABILITY = 0.3
# Numbers at the edges of what arguments take: the ends of GraphQL's Int, around zero, and
# coordinates just outside the globe.
EDGE_INTS = [0, 1, -1, 2, 100, 101, 10_000_000, 10_000_001, 2**31 - 1, -(2**31), -(2**31) + 1]
EDGE_FLOATS = [0.0, 90.0, -90.0, 90.000001, 180.0, -180.0, 180.000001, 1e308, -1e308, 5e-324]


def post(url: str, token: str, query: str) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    if body.get("errors"):
        raise SystemExit(f"harvesting demo data failed: {body['errors']}")
    return body["data"]


def harvest(data: dict) -> tuple[dict[str, list[str]], str]:
    values: dict[str, set] = {name: set() for name in set(BINDINGS.values())}
    values["edgeInts"] = set(EDGE_INTS)
    values["edgeFloats"] = set(EDGE_FLOATS)
    values["currencies"] = {"EUR", "GBP", "USD", "eur", "XXX", "€"}
    busiest, most = "", -1
    for customer in (edge["node"] for edge in data["customers"]["edges"]):
        values["customerIds"].add(customer["id"])
        orders = [edge["node"] for edge in customer["orders"]["edges"]]
        if len(orders) > most:
            busiest, most = customer["id"], len(orders)
        for order in orders:
            values["orderIds"].add(order["id"])
            values["orderNumbers"].add(order["number"])
            values["channelOrderRefs"].add(order["channelOrderRef"])
            values["lineIds"].update(line["id"] for line in order["lines"])
            values["skus"].update(line["sku"] for line in order["lines"])
            values["shipmentIds"].update(s["id"] for s in order["shipments"])
            values["trackingNumbers"].update(
                s["trackingNumber"] for s in order["shipments"] if s["trackingNumber"]
            )
            values["returnIds"].update(r["id"] for r in order["returns"])
            values["rmaNumbers"].update(r["rmaNumber"] for r in order["returns"])
            values["substitutionIds"].update(s["id"] for s in order["substitutions"])
    values["skus"].update(p["sku"] for p in data["products"])
    values["locationCodes"].update(loc["code"] for loc in data["locations"])
    values["ids"] = set().union(
        *(values[k] for k in values if k.endswith("Ids") and k != "ids")
    )
    # A dictionary needs at least one entry; an unknown value still exercises the lookup.
    return {k: sorted(v) or ["unknown"] for k, v in values.items()}, busiest


def toml_value(value: str | int | float) -> str:
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def main() -> None:
    url, token, out = sys.argv[1:4]
    values, busiest = harvest(post(url, token, HARVEST))
    lines = []
    for name, entries in sorted(values.items()):
        lines.append(f"[dictionaries.{name}]")
        lines.append("values = [" + ", ".join(toml_value(v) for v in entries) + "]")
        lines.append("")
    lines.append("[parameters]")
    for key, name in BINDINGS.items():
        probability = EDGE_PROBABILITY if name.startswith("edge") else PROBABILITY
        lines.append(
            f'{toml_value(key)} = {{ dictionary = "{name}", probability = {probability} }}'
        )
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    counts = ", ".join(f"{k} {len(v)}" for k, v in sorted(values.items()))
    print(f"demo values: {counts}", file=sys.stderr)
    print(busiest)


if __name__ == "__main__":
    main()
