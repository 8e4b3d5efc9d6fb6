"""The REST API and live event stream: thin routes over the service layer."""
