"""Datasets: adapters with one sample contract, label harmonisation, patient-level splits."""
