"""REST representations of the person registry.

Output: `PersonSerializer` renders a `PersonView` from the selectors, with fields above the
actor's clearance as `null` and named in `withheld` (P17). A facility system cleared for L4
at the person's institution gets identifiers in full: it holds them already and answers for
them (P20 masks identifiers in lists shown to people; lookups here are exact, audited and
return at most a family). Input: the serializers check types only; the registry's rules
(ID check character, birth date and sex against the ID number, phone shape) are the
services', whose ValidationError names the field and the rule.
"""

from __future__ import annotations

from rest_framework import serializers

from mchis.api.conventions import RedactedSerializer
from mchis.people.models import TEXT_MAX_LENGTH, DocumentType, Sex


class PersonSerializer(RedactedSerializer):
    id = serializers.UUIDField(read_only=True)
    version = serializers.IntegerField(
        read_only=True, help_text='The record\'s version; the ETag is this number in quotes ("3").'
    )
    document_type = serializers.ChoiceField(choices=DocumentType.choices, read_only=True, allow_null=True)
    document_number = serializers.CharField(read_only=True, allow_null=True, help_text="L4")
    name = serializers.CharField(read_only=True, allow_null=True, help_text="L4")
    sex = serializers.ChoiceField(choices=Sex.choices, read_only=True, allow_null=True, help_text="GB/T 2261.1")
    birth_date = serializers.DateField(read_only=True, allow_null=True, help_text="L4")
    phone = serializers.CharField(read_only=True, allow_null=True, help_text="L4")
    address = serializers.CharField(read_only=True, allow_null=True, help_text="L4")


class PersonLookupSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = PersonSerializer(many=True)


class PersonRegisterSerializer(serializers.Serializer):
    document_type = serializers.ChoiceField(choices=DocumentType.choices)
    document_number = serializers.CharField(
        max_length=TEXT_MAX_LENGTH["document_number"],
        required=False,
        allow_blank=True,
        default="",
        help_text="Required unless document_type is none.",
    )
    name = serializers.CharField(max_length=TEXT_MAX_LENGTH["name"])
    sex = serializers.ChoiceField(choices=Sex.choices, help_text="GB/T 2261.1: 0 unknown, 1 male, 2 female, 9 unstated")
    birth_date = serializers.DateField()
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=TEXT_MAX_LENGTH["address"], required=False, allow_blank=True, default="")


class PersonUpdateSerializer(serializers.Serializer):
    """Only the fields sent change; `null` or "" clears phone and address."""

    document_type = serializers.ChoiceField(choices=DocumentType.choices, required=False)
    document_number = serializers.CharField(max_length=40, required=False, allow_blank=True, allow_null=True)
    name = serializers.CharField(max_length=50, required=False)
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)
    birth_date = serializers.DateField(required=False)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, allow_null=True)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True, allow_null=True)


class PersonSearchSerializer(serializers.Serializer):
    document_number = serializers.CharField(max_length=40, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
