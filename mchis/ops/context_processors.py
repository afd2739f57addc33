from mchis.ops.models import Installation


def installation(request):
    inst = Installation.current()
    return {"synthetic_data": bool(inst and inst.is_demo)}
