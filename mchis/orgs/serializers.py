from rest_framework import serializers

from mchis.orgs.models import Institution, Region


class RegionSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Region
        fields = ["code", "name", "level", "parent", "path"]


class InstitutionSerializer(serializers.ModelSerializer):
    region = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Institution
        fields = ["code", "name", "kind", "region", "is_active"]
